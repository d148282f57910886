"""Accuracy at crystal/liquid interfaces (``structid md run interface``) by distance from the
interface plane, and of crystal nuclei in their liquid (``structid md run nucleus``) by distance
from the nucleus's surface: what a method costs in spatial resolution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from structid.bench.dc3 import hits
from structid.errors import InputError
from structid.labels import CODE, CRYSTALLINE_CODES, Classifier
from structid.md.recipes import NUCLEUS, Slab
from structid.md.store import INHERENT_COLUMN, LabelledFrame, labelled_frames
from structid.md.systems import SYSTEMS

#: distance bins from the nearest interface plane, in nearest-neighbour distances
BINS: tuple[tuple[float, float], ...] = ((0, 1), (1, 2), (2, 99))


def agreed_truth(item: LabelledFrame, lattice: str, melt_label: str) -> np.ndarray:
    """(n,) labels of a snapshot where what was built and its inherent structure agree: a
    crystal atom whose inherent structure is still its lattice, a melt atom whose inherent
    structure is not crystalline; every other atom (the crystal grew over it, or it melted off)
    ``unknown``."""
    built = item.names()
    column = item.frame.properties.get(INHERENT_COLUMN)
    if column is None:
        raise InputError(f"{item.source} has no inherent-structure labels; delete its run and make it "
                         "again with `structid md run`")
    inherent = np.asarray(column).astype(int)
    crystalline = np.isin(inherent, CRYSTALLINE_CODES)
    keep = ((built == lattice) & (inherent == CODE[lattice])) | ((built == melt_label) & ~crystalline)
    return np.where(keep, built, "unknown")


def interface_table(root: Path, classifiers: Mapping[str, Classifier],
                    systems: Sequence[str] = ("al", "fe", "mg", "si"), recipe: str = "interface",
                    truth: str = "built") -> str:
    """Markdown table over every frame of the interface runs (or, with ``recipe="nucleus"``, the
    nucleus runs) of ``systems``: crystal atoms (right: their lattice) and liquid atoms (right:
    not crystalline) by distance from the interface (plane or ball). Liquid atoms closer than
    the run's margin to it are labelled ``unknown`` by the recipe and left out. ``truth``:
    ``"built"``, the recipe's labels, or ``"agreed"``, only the atoms whose inherent structure
    agrees with them (:func:`agreed_truth`; runs that minimise their snapshots)."""
    if truth not in ("built", "agreed"):
        raise InputError(f"truth is 'built' or 'agreed', got {truth!r}")
    counts: dict = {}
    region = NUCLEUS if recipe == "nucleus" else Slab()
    for item in labelled_frames(root, recipe, list(systems)):
        frame, system = item.frame, SYSTEMS[item.system]
        truth_names = item.names() if truth == "built" else agreed_truth(item, system.lattice, region.melt_label)
        gap = region.distance(frame) / system.nn_distance
        results = {name: c.classify(frame).codes for name, c in classifiers.items()}
        # (side, the recipe's label, what counts as right: hits() takes "liquid" as non-crystalline)
        for side, label, right in (("crystal", system.lattice, system.lattice), ("liquid", region.melt_label, "liquid")):
            for lo, hi in BINS:
                atoms = (truth_names == label) & (gap >= lo) & (gap < hi)
                if not atoms.any():
                    continue
                for method, codes in results.items():
                    key = (system.name, side, lo, method)
                    hit, total = counts.get(key, (0, 0))
                    counts[key] = (hit + hits(right, codes[atoms]), total + int(atoms.sum()))
    columns = [f"{lo}-{hi} d" if hi < 99 else f">= {lo} d" for lo, hi in BINS] + ["all"]
    lines = ["| system | atoms | method | " + " | ".join(columns) + " |", "|---|---|---|" + "---:|" * len(columns)]
    for system, side in sorted({k[:2] for k in counts}):
        for method in classifiers:
            cells = [counts.get((system, side, lo, method)) for lo, _ in BINS]
            present = [c for c in cells if c is not None]
            cells.append(tuple(map(sum, zip(*present))) if present else None)
            lines.append(f"| {system} | {side} | {method} | "
                         + " | ".join("" if c is None else f"{100 * c[0] / c[1]:.1f} ({c[1]})" for c in cells) + " |")
    return "\n".join(lines) + "\n"
