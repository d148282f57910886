"""Accuracy of every registered method on the DC3-protocol MD data, per system and Th.

Accuracy is the share of atoms given the true label; for liquids, the share given no crystalline
label. A chemically ordered variant counts as its parent lattice (NaCl sites are labelled ``sc``
in the DC3 protocol; PTM may call them ``rocksalt``).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.labels import CODE, CRYSTALLINE
from structid.md.store import finished_runs
from structid.registry import get_classifier

#: predicted labels accepted for a true label
ACCEPTED: dict[str, set[str]] = {"sc": {"sc", "rocksalt"}, "bcc": {"bcc", "cscl"}}


@dataclass
class Row:
    """Accuracy of one method on the frames of one run."""

    system: str
    phase: str  # crystal or liquid
    th: float
    temperature: float  # mean measured T, K
    method: str
    correct: int
    atoms: int
    frames: int

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.atoms, 1)


def hits(truth: str, codes: np.ndarray) -> int:
    """How many of ``codes`` are right for the true label ``truth`` (for ``liquid``: how many
    are not crystalline; see :data:`ACCEPTED` for ordered variants)."""
    if truth == "liquid":
        crystal_codes = [CODE[c] for c in CRYSTALLINE]
        return int(np.count_nonzero(~np.isin(codes, crystal_codes)))
    accepted = [CODE[c] for c in ACCEPTED.get(truth, {truth})]
    return int(np.count_nonzero(np.isin(codes, accepted)))


def evaluate(root: Path, methods: list[str], recipe: str = "dc3",
             systems: list[str] | None = None, progress=None,
             frame_indices: tuple[int, ...] | None = None, classifiers: dict | None = None) -> list[Row]:
    """Classify every labelled frame (or the frames at ``frame_indices`` of each run, e.g. the
    ones a model did not train on) of the recipe's runs with each method; ``classifiers`` may
    supply ready instances by name."""
    classifiers = {m: (classifiers or {}).get(m) or get_classifier(m) for m in methods}
    rows = []
    for run in finished_runs(root, recipe, systems):
        meta = run.meta
        labels = [f["label"] for f in meta["frames"]]
        temps = [f["T_K"] for f in meta["frames"] if f["label"]]
        phase = meta.get("phase", "liquid" if "liquid" in set(labels) else "crystal")
        counts = defaultdict(lambda: [0, 0, 0])
        for k, (frame, truth) in enumerate(zip(run.frames(), labels)):
            if truth is None or (frame_indices is not None and k not in frame_indices):
                continue
            for name, classifier in classifiers.items():
                codes = classifier.classify(frame).codes
                c = counts[name]
                c[0] += hits(truth, codes)
                c[1] += len(codes)
                c[2] += 1
        for name in methods:
            correct, atoms, frames = counts[name]
            rows.append(Row(meta["system"], phase, float(meta.get("th", np.nan)),
                            float(np.mean(temps)) if temps else float("nan"),
                            name, correct, atoms, frames))
        if progress:
            progress(meta)
    return rows


def to_csv(rows: list[Row]) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["system", "phase", "th", "T_K", "method", "accuracy", "atoms", "frames"])
    for r in rows:
        writer.writerow([r.system, r.phase, r.th, f"{r.temperature:.1f}", r.method,
                         f"{r.accuracy:.5f}", r.atoms, r.frames])
    return text.getvalue()


def table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the accuracy table: one row per (system, phase, Th), one column per
    method, accuracies in %."""
    methods = list(dict.fromkeys(r.method for r in rows))
    grouped: dict[tuple, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        grouped[(r.system, r.phase, r.th)][r.method] = r
    body = []
    for (system, phase, th), by_method in grouped.items():
        any_row = next(iter(by_method.values()))
        body.append([system, phase, f"{th:.2f}", f"{any_row.temperature:.0f}",
                     *(f"{100 * by_method[m].accuracy:.1f}" if m in by_method else "" for m in methods)])
    return ["system", "phase", "Th", "T (K)", *methods], body


def markdown(rows: list[Row]) -> str:
    """The accuracy table as Markdown."""
    header, body = table(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def plot_system(rows: list[Row], system: str, ax) -> None:
    """Accuracy vs Th for one system on a matplotlib axis (crystal lines, liquid markers)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    for k, method in enumerate(methods):
        color = f"C{k}"
        crystal = sorted((r.th, 100 * r.accuracy) for r in rows
                         if r.system == system and r.method == method and r.phase == "crystal")
        liquid = [(r.th, 100 * r.accuracy) for r in rows
                  if r.system == system and r.method == method and r.phase == "liquid"]
        if crystal:
            ax.plot(*zip(*crystal), marker="o", color=color, label=method)
        if liquid:
            ax.plot(*zip(*liquid), marker="s", linestyle="none", markerfacecolor="none",
                    markersize=9, color=color, label=f"{method} (liquid)")
    ax.set_title(system)
    ax.set_xlabel("Th = T / Tm")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)


def figures(rows: list[Row]) -> dict[str, bytes]:
    """PNG bytes: one per system (``dc3_<system>.png``) and an overview grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return buf.getvalue()

    systems = list(dict.fromkeys(r.system for r in rows))
    out = {}
    for system in systems:
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=110)
        plot_system(rows, system, ax)
        ax.legend(fontsize=7)
        out[f"dc3_{system}.png"] = png(fig)
    cols = 4
    nrows = -(-len(systems) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), dpi=90, squeeze=False)
    for ax, system in zip(axes.ravel(), systems):
        plot_system(rows, system, ax)
    for ax in axes.ravel()[len(systems):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    out["dc3_overview.png"] = png(fig)
    return out
