"""Accuracy versus the share of missing atoms (atom-probe-like data) on held-out MD frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from structid.bench.dc3 import hits
from structid.bench.protocol import HELD_OUT_FRAMES, MISSING_SHARES
from structid.labels import Classifier
from structid.lattices import remove_atoms
from structid.md.store import labelled_frames

#: (true structure, share of atoms removed, method) -> accuracy
MissingAccuracy = dict[tuple[str, float, str], float]
#: one held-out material per crystal the shipped models know
SYSTEMS = ("al", "fe", "ti", "si")
CRYSTALS = frozenset({"fcc", "bcc", "hcp", "cd"})


def missing_atoms_accuracy(classifiers: Mapping[str, Classifier], root: Path, seed: int,
                           systems: Sequence[str] = SYSTEMS, labels: frozenset[str] = CRYSTALS,
                           shares: Sequence[float] = MISSING_SHARES) -> MissingAccuracy:
    """Accuracy of every classifier (name -> classifier) on the held-out frames of the DC3
    runs of ``systems`` whose label is in ``labels``, with each share of atoms removed at
    random (the same atoms for every classifier)."""
    rng = np.random.default_rng(seed + 1)
    counts: dict[tuple[str, float, str], tuple[int, int]] = {}
    for item in labelled_frames(root, "dc3", list(systems), set(labels), HELD_OUT_FRAMES):
        for share in shares:
            frame = remove_atoms(item.frame, share, rng) if share > 0 else item.frame
            for method, classifier in classifiers.items():
                codes = classifier.classify(frame).codes
                hit, total = counts.get((item.label, share, method), (0, 0))
                counts[(item.label, share, method)] = (hit + hits(item.label, codes), total + len(codes))
    return {key: hit / total for key, (hit, total) in counts.items()}


def to_records(accuracy: MissingAccuracy) -> list[dict]:
    """The table as plain records (what a model file's metadata stores)."""
    return [{"structure": s, "share": f, "method": m, "accuracy": a} for (s, f, m), a in accuracy.items()]


def from_records(records: list[dict]) -> MissingAccuracy:
    return {(r["structure"], r["share"], r["method"]): r["accuracy"] for r in records}


def markdown(accuracy: MissingAccuracy, first: str = "") -> list[str]:
    """Markdown rows: one per (structure, method), one column per share removed; methods whose
    name starts with ``first`` come first."""
    shares = sorted({f for _, f, _ in accuracy})
    methods = sorted({m for _, _, m in accuracy}, key=lambda m: (not (first and m.startswith(first)), m))
    lines = ["| structure | method | " + " | ".join(f"{int(round(100 * f))} %" for f in shares) + " |",
             "|---" * (len(shares) + 2) + "|"]
    for structure in sorted({s for s, _, _ in accuracy}):
        for method in methods:
            cells = [accuracy.get((structure, f, method)) for f in shares]
            lines.append(f"| {structure} | {method} | "
                         + " | ".join("" if v is None else f"{100 * v:.1f}" for v in cells) + " |")
    return lines
