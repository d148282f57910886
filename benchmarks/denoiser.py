"""Score-based denoiser benchmarks (issue figures), printed as Markdown.

1. DC3 data at Tm (every snapshot of each Th = 1.0 crystal run and each liquid): a-CNA and PTM
   accuracy before and after 1 and 8 iterations, per system.
2. Cu at 60 GPa, 1.1 Tm: share of atoms a-CNA labels `other` after 0..8 iterations.
3. Speed: 8 iterations on the 100,800-atom frame, against PTM in the same run.

    python benchmarks/denoiser.py [--model FILE] [--data-dir DIR] [--systems al,fe,...]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: shipped denoiser-metals)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--systems", default=None, help="DC3 systems (default: those whose lattice the model knows)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip (1-3)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    import time

    import numpy as np

    from structid.bench.dc3 import hits as right
    from structid.bench.speed import benchmark_frame
    from structid.classical import PTM, AdaptiveCNA
    from structid.md.store import data_dir, finished_runs
    from structid.registry import get_denoiser

    model = get_denoiser(args.model)
    lattices = set(model.lattices)
    root = data_dir(args.data_dir)
    acna, ptm = AdaptiveCNA(), PTM()

    def last_frame(run):
        frame = None
        for frame in run.frames():
            pass
        return frame

    if "1" not in skip:
        print("## DC3 data at Tm: accuracy (%) before / after 1 / after 8 iterations\n")
        print("| system | phase | a-CNA | a-CNA +1 | a-CNA +8 | PTM | PTM +1 | PTM +8 |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        chosen = args.systems.split(",") if args.systems else None
        for run in finished_runs(root, "dc3"):
            meta = run.meta
            if meta.get("th") != 1.0 or (chosen and meta["system"] not in chosen):
                continue
            truth = meta["frames"][-1]["label"]
            if not chosen and truth not in lattices and meta["lattice"] not in lattices:
                continue
            hits, atoms = np.zeros(6), 0
            for frame in run.frames():  # every snapshot of the run at Tm
                one = model.denoise(frame, 1).frame
                eight = model.denoise(frame, 8).frame
                hits += [right(truth, m.classify(f).codes) for m in (acna, ptm) for f in (frame, one, eight)]
                atoms += len(frame)
            cells = [f"{c:.1f}" for c in 100 * hits / atoms]
            if truth not in ("fcc", "bcc", "hcp", "liquid"):
                cells[:3] = ["n/a"] * 3  # a-CNA has no cd, hd or sc
            print(f"| {meta['system']} | {meta.get('phase', truth)} | " + " | ".join(cells) + " |")

    if "2" not in skip:
        print("\n## Cu at 60 GPa, 1.1 Tm: share (%) of atoms a-CNA labels `other` per iteration\n")
        print("| phase | " + " | ".join(str(k) for k in range(9)) + " |")
        print("|---" * 10 + "|")
        for run in finished_runs(root, "cu60"):
            meta = run.meta
            if meta.get("phase") != "crystal":
                continue
            frame = last_frame(run)
            trajectory = model.denoise(frame, 8, tolerance=0.0, save_trajectory=True).trajectory
            shares = [100 * np.mean(acna.classify(f).names == "other") for f in trajectory]
            print(f"| {meta['lattice']} | " + " | ".join(f"{s:.1f}" for s in shares) + " |")

    if "3" not in skip:
        print("\n## Speed: 8 iterations on 100,800 atoms\n")
        frame = benchmark_frame()
        start = time.perf_counter()
        ptm.classify(frame)
        t_ptm = time.perf_counter() - start
        start = time.perf_counter()
        result = model.denoise(frame, 8, tolerance=0.0)
        t_dn = time.perf_counter() - start
        print("| task | seconds | x PTM time |\n|---|---:|---:|")
        print(f"| OVITO PTM | {t_ptm:.2f} | 1 |")
        print(f"| denoiser, {result.iterations} iterations | {t_dn:.1f} | {t_dn / t_ptm:.1f} |")


if __name__ == "__main__":
    main()
