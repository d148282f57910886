"""What the denoiser's early stop changes: labels of the default pipeline's crystal stage
(denoised PTM with the signature check) with the stop tolerance 1e-3 d against looser ones, on
the last frame of every realistic-sample and DC3 run in the MD data, with the steps each took.

    python benchmarks/denoise_tolerance.py [--tolerances 1e-3,5e-3,1e-2,2e-2] [--threads N]

The first tolerance is the reference the others are compared with.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerances", default="1e-3,5e-3,1e-2,2e-2")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import numpy as np

    from structid import runtime
    from structid.classical import PTM
    from structid.md.store import data_dir, finished_runs
    from structid.models.compose import Denoised, SignatureChecked
    from structid.registry import DEFAULT_PIPELINE_ITERATIONS, get_denoiser

    runtime.configure(args.threads, "cpu")
    tolerances = [float(t) for t in args.tolerances.split(",")]
    denoiser, root = get_denoiser(), data_dir(args.data_dir)
    steps: list[int] = []

    class Counted:  # the denoiser, counting the steps each frame takes
        def denoise(self, frame, iterations, tolerance, **options):
            result = denoiser.denoise(frame, iterations, tolerance, **options)
            steps.append(result.iterations)
            return result

    totals = {t: {"changed": 0, "atoms": 0, "steps": 0, "seconds": 0.0} for t in tolerances}
    runs = [run for recipe in ("real", "dc3") for run in finished_runs(root, recipe)]
    print(f"CPU: {runtime.cpu_model()}; {runtime.threads()} thread(s); {len(runs)} runs (last frame of each)")
    for run in runs:
        *_, frame = run.frames()
        reference = None
        for t in tolerances:
            stage = SignatureChecked(Denoised(Counted(), PTM(), DEFAULT_PIPELINE_ITERATIONS, tolerance=t))
            start = time.perf_counter()
            codes = stage.classify(frame).codes
            total = totals[t]
            total["seconds"] += time.perf_counter() - start
            reference = codes if reference is None else reference
            total["changed"] += int(np.count_nonzero(codes != reference))
            total["atoms"] += len(codes)
            total["steps"] += steps.pop()
    print(f"\n| tolerance (d) | labels changed | atoms | denoising steps | seconds |\n|---|---:|---:|---:|---:|")
    for t, total in totals.items():
        print(f"| {t:g} | {total['changed']} | {total['atoms']:,} | {total['steps']} | {total['seconds']:.1f} |")


if __name__ == "__main__":
    main()
