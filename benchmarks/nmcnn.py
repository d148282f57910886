"""Neighbors Map + CNN benchmarks (issue figures), printed as Markdown.

1. Accuracy vs share of missing atoms on held-out DC3 frames (the paper's Fig. 3), NM-CNN next
   to a-CNA, PTM and IdentifyDiamond.
2. Accuracy vs Th on the held-out DC3 frames, for the classes the model knows.
3. Speed on the 100,800-atom frame: maps alone, maps + CNN, and PTM in the same run.
4. Crystal/liquid interfaces (``structid md run interface``): accuracy by distance from the
   interface, the cost in spatial resolution of averaging over neighbours.

Every part also runs ``nmcnn+avg12``: the same model with each atom's probabilities averaged
with those of its 12 nearest neighbours (:class:`structid.models.compose.NeighborAveraged`).

    python benchmarks/nmcnn.py [--model FILE] [--data-dir DIR] [--skip 1,2]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: shipped nmcnn-metals)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip (1-4)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    from structid.bench import dc3
    from structid.bench.interfaces import interface_table
    from structid.bench.missing import markdown, missing_atoms_accuracy
    from structid.bench.protocol import HELD_OUT_FRAMES
    from structid.bench.speed import benchmark_frame, speed_table
    from structid.md.store import data_dir
    from structid.models.compose import NeighborAveraged
    from structid.registry import get_classifier

    model = get_classifier("nmcnn", **({"model": args.model} if args.model else {}))
    averaged = NeighborAveraged(model, 12)
    root = data_dir(args.data_dir)
    # the materials the model trained on (its held-out frames are still unseen)
    systems = sorted({s.split("/")[1] for s in model.metadata_.get("sources", []) if s.startswith("dc3/")}) or None

    if "1" not in skip:
        print("## Accuracy (%) vs share of missing atoms, held-out DC3 frames at all Th\n")
        classifiers = {"nmcnn": model, averaged.name: averaged} | {m: get_classifier(m) for m in ("acna", "ptm", "diamond")}
        print("\n".join(markdown(missing_atoms_accuracy(classifiers, root, seed=0), first="nmcnn")))

    if "2" not in skip:
        print("\n## Accuracy (%) vs Th, held-out DC3 frames\n")
        rows = dc3.evaluate(root, ["nmcnn", averaged.name, "acna", "ptm"], systems=systems,
                            frame_indices=HELD_OUT_FRAMES, classifiers={"nmcnn": model, averaged.name: averaged})
        print(dc3.markdown(rows))

    if "3" not in skip:
        print("## Speed on 100,800 atoms\n")
        frame = benchmark_frame()
        print(speed_table(frame, {
            "Neighbors Maps": lambda: [None for _ in model.descriptor.iter_chunks(frame)],
            "Neighbors Maps + CNN": lambda: model.classify(frame),
            "Neighbors Maps + CNN + average of 12": lambda: averaged.classify(frame)}, args.repeats))

    if "4" not in skip:
        print("\n## Crystal/liquid interfaces: accuracy (%) by distance from the interface\n")
        print(interface_table(root, {"nmcnn": model, averaged.name: averaged}))


if __name__ == "__main__":
    main()
