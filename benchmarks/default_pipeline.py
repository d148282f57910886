"""The default pipeline (``structid classify FILE`` without ``-m``) outside the realistic samples:
what its composition must not lose, printed as Markdown next to its parts.

1. Accuracy vs Th on the held-out frame of every DC3-protocol run (crystals at 0.25-1.0 Tm and
   liquids at Tm), every system the MD data has.
2. Accuracy vs share of missing atoms (0-50 %) on the held-out DC3 frames.

The realistic samples themselves are ``structid bench real``.

    python benchmarks/default_pipeline.py [--data-dir DIR] [--skip 1,2] [--threads 1]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip (1-2)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--methods", default="default,ptm,ptm+denoise8,nmcnn",
                        help="comma-separated pipelines (default: the default pipeline and its parts)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    from structid import runtime
    from structid.bench import dc3
    from structid.bench.missing import markdown, missing_atoms_accuracy
    from structid.bench.protocol import HELD_OUT_FRAMES
    from structid.md.store import data_dir
    from structid.registry import pipeline

    runtime.configure(args.threads, "cpu")
    print(f"CPU: {runtime.cpu_model()}; {runtime.threads()} thread(s)\n")
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    classifiers = {name: pipeline(name) for name in names}
    root = data_dir(args.data_dir)

    if "1" not in skip:
        print("## Accuracy (%) vs Th, held-out DC3 frames\n")
        rows = dc3.evaluate(root, names, frame_indices=HELD_OUT_FRAMES, classifiers=classifiers)
        print(dc3.markdown(rows), flush=True)

    if "2" not in skip:
        print("## Accuracy (%) vs share of missing atoms, held-out DC3 frames at all Th\n")
        print("\n".join(markdown(missing_atoms_accuracy(classifiers, root, seed=0), first="default")))


if __name__ == "__main__":
    main()
