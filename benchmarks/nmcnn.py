"""Neighbors Map + CNN benchmarks (issue figures), printed as Markdown.

1. Accuracy vs share of missing atoms on held-out DC3 frames (the paper's Fig. 3), NM-CNN next
   to a-CNA, PTM and IdentifyDiamond.
2. Accuracy vs Th on the held-out DC3 frames, for the classes the model knows.
3. Speed on the 100,800-atom frame: maps alone, maps + CNN, and PTM in the same run.
4. Crystal/liquid interfaces (``structid md run interface``): accuracy by distance from the
   interface, the cost in spatial resolution of averaging over neighbours.

Every part also runs ``nmcnn+avg12``: the same model with each atom's probabilities averaged
with those of its 12 nearest neighbours (:class:`structid.models.neighbor_average.NeighborAveraged`).

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
    from structid.bench.speed import benchmark_frame, speed_table
    from structid.md.recipes import data_dir
    from structid.models.neighbor_average import NeighborAveraged
    from structid.models.nmcnn import from_file
    from structid.pretrained.build import HELD_OUT, MISSING, NMCNN_SYSTEMS, missing_atoms_accuracy

    model = from_file(args.model)
    averaged = NeighborAveraged(model, 12)
    root = data_dir(args.data_dir)

    if "1" not in skip:
        print("## Accuracy (%) vs share of missing atoms, held-out DC3 frames at all Th\n")
        acc = missing_atoms_accuracy(model, root, seed=0, variants={averaged.name: averaged})
        methods = sorted({k.split("|")[2] for k in acc}, key=lambda m: (not m.startswith("nmcnn"), m))
        print("| structure | method | " + " | ".join(f"{int(100 * f)} %" for f in MISSING) + " |")
        print("|---" * (len(MISSING) + 2) + "|")
        for label in sorted({k.split("|")[0] for k in acc}):
            for method in methods:
                cells = [acc.get(f"{label}|{f}|{method}") for f in MISSING]
                print(f"| {label} | {method} | "
                      + " | ".join("" if v is None else f"{100 * v:.1f}" for v in cells) + " |")

    if "2" not in skip:
        print("\n## Accuracy (%) vs Th, held-out DC3 frames\n")
        rows = dc3.evaluate(root, ["nmcnn", averaged.name, "acna", "ptm"], systems=NMCNN_SYSTEMS,
                            frame_indices=HELD_OUT, classifiers={"nmcnn": model, averaged.name: averaged})
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


def interface_table(root, classifiers: dict) -> str:
    """Every frame of the interface runs of the crystals the model knows: crystal atoms (right:
    their lattice) and liquid-slab atoms (right: not crystalline) by distance from the nearest
    interface plane, in nearest-neighbour distances. Atoms closer than the run's margin to the
    slab's faces are labelled ``unknown`` by the recipe and left out."""
    from structid.bench.dc3 import _hits
    from structid.md.recipes import Slab, distance_to_slab_faces
    from structid.md.systems import SYSTEMS, get_system
    from structid.models.training import md_frames

    bins = [(0, 1), (1, 2), (2, 99)]
    counts: dict = {}
    for item in md_frames(root, "interface", ["al", "fe", "mg", "si"], None):
        frame, truth = item.frame, item.names()
        system = get_system(item.source.split("/")[1], SYSTEMS)
        gap = distance_to_slab_faces(frame, Slab()) / system.nn_distance
        results = {name: c.classify(frame).codes for name, c in classifiers.items()}
        # (side, the recipe's label, what counts as right: _hits takes "liquid" as non-crystalline)
        for side, label, right in (("crystal", system.lattice, system.lattice), ("liquid", "amorphous", "liquid")):
            for lo, hi in bins:
                atoms = (truth == label) & (gap >= lo) & (gap < hi)
                if not atoms.any():
                    continue
                for method, codes in results.items():
                    key = (system.name, side, lo, method)
                    hit, total = counts.get(key, (0, 0))
                    counts[key] = (hit + _hits(right, codes[atoms]), total + int(atoms.sum()))
    columns = [f"{lo}-{hi} d" if hi < 99 else f">= {lo} d" for lo, hi in bins]
    lines = ["| system | atoms | method | " + " | ".join(columns) + " |", "|---|---|---|" + "---:|" * len(bins)]
    for system, side in sorted({k[:2] for k in counts}):
        for method in classifiers:
            cells = [counts.get((system, side, lo, method)) for lo, _ in bins]
            lines.append(f"| {system} | {side} | {method} | "
                         + " | ".join("" if c is None else f"{100 * c[0] / c[1]:.1f} ({c[1]})" for c in cells) + " |")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
