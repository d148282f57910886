"""Neighbors Map + CNN benchmarks (issue figures), printed as Markdown.

1. Accuracy vs share of missing atoms on held-out DC3 frames (the paper's Fig. 3), NM-CNN next
   to a-CNA, PTM and IdentifyDiamond.
2. Accuracy vs Th on the held-out DC3 frames, for the classes the model knows.
3. Speed on the 100,800-atom frame: maps alone, maps + CNN, and PTM in the same run.

    python benchmarks/nmcnn.py [--model FILE] [--data-dir DIR] [--skip 1,2]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: shipped nmcnn-metals)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip (1-3)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    from structid.bench import dc3
    from structid.bench.speed import benchmark_frame, speed_table
    from structid.md.recipes import data_dir
    from structid.models.nmcnn import from_file
    from structid.pretrained.build import HELD_OUT, MISSING, NMCNN_SYSTEMS, missing_atoms_accuracy

    model = from_file(args.model)
    root = data_dir(args.data_dir)

    if "1" not in skip:
        print("## Accuracy (%) vs share of missing atoms, held-out DC3 frames at all Th\n")
        acc = missing_atoms_accuracy(model, root, seed=0)
        methods = sorted({k.split("|")[2] for k in acc}, key=lambda m: (m != "nmcnn", m))
        print("| structure | method | " + " | ".join(f"{int(100 * f)} %" for f in MISSING) + " |")
        print("|---" * (len(MISSING) + 2) + "|")
        for label in sorted({k.split("|")[0] for k in acc}):
            for method in methods:
                cells = [acc.get(f"{label}|{f}|{method}") for f in MISSING]
                print(f"| {label} | {method} | "
                      + " | ".join("" if v is None else f"{100 * v:.1f}" for v in cells) + " |")

    if "2" not in skip:
        print("\n## Accuracy (%) vs Th, held-out DC3 frames\n")
        rows = dc3.evaluate(root, ["nmcnn", "acna", "ptm"], systems=NMCNN_SYSTEMS,
                            frame_indices=HELD_OUT, classifiers={"nmcnn": model})
        print(dc3.markdown(rows))

    if "3" not in skip:
        print("## Speed on 100,800 atoms\n")
        frame = benchmark_frame()
        print(speed_table(frame, {
            "Neighbors Maps": lambda: [None for _ in model.descriptor.iter_chunks(frame)],
            "Neighbors Maps + CNN": lambda: model.classify(frame)}, args.repeats))

if __name__ == "__main__":
    main()
