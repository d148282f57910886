"""Crystals no model knows, and the known structures a check for them must leave alone.

*Unseen* samples are crystals outside every shipped model's classes: the foreign lattices of
:data:`~structid.lattices.FOREIGN_LATTICES` (A15, beta-Sn, alpha-U, beta-cristobalite,
alpha-quartz) and graphite with Gaussian thermal noise, mW ice Ih from the DC3 runs (no ML
model has hd), and the MD of ``structid md run foreign`` (Tersoff silica cristobalite, EAM A15
tungsten) when it was run. Right there is ``unknown`` or ``other`` (or the structure itself, for a method
that has it, e.g. PTM's graphite and hexagonal diamond); any other label is *wrong*.

*Known* samples are the held-out DC3 frames of the materials the models know (crystals at every
temperature, liquids) and the glasses at the end of the melt-quench cycles: there a check must
not turn right labels into ``unknown`` (reported as *flagged*).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.bench.dc3 import ACCEPTED
from structid.bench.protocol import HELD_OUT_FRAMES
from structid.errors import InputError
from structid.frame import Frame
from structid.labels import CODE, CRYSTALLINE, Classifier
from structid.lattices import FOREIGN_LATTICES, gaussian_noise, lattice
from structid.md.store import finished_runs, labelled_frames

#: Gaussian noise of the unseen lattices, first-shell distances per coordinate (0.06 is about
#: a metal at its melting point)
NOISE = (0.03, 0.06)
#: conventional cells per side of each unseen lattice (1,000-3,500 atoms)
REPEAT = {"a15": 6, "beta-sn": 8, "alpha-u": 8, "cristobalite": 5, "quartz": 6, "graphite": 7}
#: the materials of the known samples (Li and Zr were never trained on by a shipped model)
KNOWN_SYSTEMS = ("al", "ar", "fe", "li", "mg", "ti", "zr", "si", "ge")


@dataclass
class Row:
    """One method on one sample: how many atoms got a right, a flagged (unknown / other) or a
    wrong label."""

    group: str  # unseen or known
    sample: str
    truth: str
    method: str
    atoms: int
    right: int
    flagged: int
    wrong: int


def unseen_samples(seed: int, root: Path | None = None):
    """(name, truth, frame) of the crystals no model knows: the noisy lattices, and the mW ice
    and ``foreign``-recipe frames that ``root`` holds."""
    rng = np.random.default_rng(seed)
    for name in (*FOREIGN_LATTICES, "graphite"):
        for sigma in NOISE:
            frame = gaussian_noise(lattice(name, 2.5, REPEAT[name]), sigma * 2.5, rng)
            yield f"{name} σ={sigma}", "graphite" if name == "graphite" else "unknown", frame
    if root is not None and _has_runs(root, "dc3", ["h2o"]):
        for item in labelled_frames(root, "dc3", ["h2o"], {"hd"}, HELD_OUT_FRAMES):
            yield f"ice Ih (mW) Th={item.th}", "hd", item.frame
    if root is not None and _has_runs(root, "foreign"):
        for item in labelled_frames(root, "foreign", None, None, HELD_OUT_FRAMES):
            yield f"{item.source.split('/')[1]} (MD) Th={item.th}", "unknown", item.frame


def known_samples(root: Path, systems=KNOWN_SYSTEMS):
    """(name, truth, frame) of held-out DC3 frames and of the glasses of the melt-quench cycles."""
    present = [s for s in systems if _has_runs(root, "dc3", [s])]
    if present:
        for item in labelled_frames(root, "dc3", present, None, HELD_OUT_FRAMES):
            yield f"{item.source.split('/')[1]} {item.label} Th={item.th}", item.label, item.frame
    for system in ("ni", "cuzr"):
        if _has_runs(root, "cycle", [system]):
            frames = list(finished_runs(root, "cycle", [system])[0].frames())
            yield f"{system} glass (cycle, last frame)", "amorphous", frames[-1]


def _has_runs(root: Path, recipe: str, systems: list[str] | None = None) -> bool:
    """Whether ``root`` holds finished runs of the recipe (the benchmark uses what was made)."""
    try:
        return bool(finished_runs(root, recipe, systems))
    except InputError:
        return False


def score(group: str, sample: str, truth: str, method: str, codes: np.ndarray) -> Row:
    """Count right, flagged and wrong labels of one sample."""
    flagged_codes = [CODE["unknown"], CODE["other"]]
    flagged = np.isin(codes, flagged_codes)
    if truth == "unknown":
        right = np.zeros(len(codes), bool)
    elif truth == "amorphous":
        right = np.isin(codes, [CODE["amorphous"], CODE["liquid"]])
    elif truth == "liquid":
        right = ~np.isin(codes, [CODE[c] for c in CRYSTALLINE]) & ~flagged
    else:
        right = np.isin(codes, [CODE[c] for c in ACCEPTED.get(truth, {truth})])
    return Row(group, sample, truth, method, len(codes), int(right.sum()), int((flagged & ~right).sum()),
               int((~flagged & ~right).sum()))


def evaluate(classifiers: Mapping[str, Classifier], seed: int = 0, root: Path | None = None,
             progress=None) -> list[Row]:
    """Every classifier on every unseen sample and, with ``root``, every known one."""
    rows = []
    samples: list[tuple[str, str, str, Frame]] = [("unseen", *s) for s in unseen_samples(seed, root)]
    if root is not None:
        samples += [("known", *s) for s in known_samples(root)]
    for group, name, truth, frame in samples:
        for method, classifier in classifiers.items():
            rows.append(score(group, name, truth, method, classifier.classify(frame).codes))
        if progress:
            progress(name)
    return rows


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / max(whole, 1):.1f}"


def markdown(rows: list[Row]) -> str:
    """Two tables: per unseen sample flagged / wrong %, and per known sample right / flagged %;
    then the pooled figures of each method (a check that costs nothing leaves "known: right"
    as it was and turns wrong labels into flagged ones)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    lines = []
    for group, cells, title in (("unseen", ("flagged", "wrong"), "Unseen crystals: % flagged (unknown/other) / % wrong"),
                                ("known", ("right", "flagged"), "Known structures: % right / % flagged")):
        samples = list(dict.fromkeys(r.sample for r in rows if r.group == group))
        if not samples:
            continue
        lines += [f"**{title}**", "", "| sample | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        table = {(r.sample, r.method): r for r in rows if r.group == group}
        for sample in samples:
            entries = []
            for m in methods:
                r = table.get((sample, m))
                if r is None:
                    entries.append("")
                    continue
                first, second = (getattr(r, c) for c in cells)
                if group == "unseen" and r.truth != "unknown":
                    first += r.right  # the method knows the structure: right counts as flagged
                entries.append(f"{_pct(first, r.atoms)} / {_pct(second, r.atoms)}")
            lines.append(f"| {sample} | " + " | ".join(entries) + " |")
        lines.append("")
    lines += ["| method | unseen: flagged or right % | unseen: wrong % | known: right % | known: flagged % |",
              "|---|---|---|---|---|"]
    for m in methods:
        unseen = [r for r in rows if r.method == m and r.group == "unseen"]
        known = [r for r in rows if r.method == m and r.group == "known"]
        n_u, n_k = sum(r.atoms for r in unseen), sum(r.atoms for r in known)
        lines.append(f"| {m} | {_pct(sum(r.flagged + r.right for r in unseen), n_u)} | "
                     f"{_pct(sum(r.wrong for r in unseen), n_u)} | "
                     + (f"{_pct(sum(r.right for r in known), n_k)} | {_pct(sum(r.flagged for r in known), n_k)} |"
                        if known else " | |"))
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["group", "sample", "truth", "method", "atoms", "right", "flagged", "wrong"])
    for r in rows:
        writer.writerow([r.group, r.sample, r.truth, r.method, r.atoms, r.right, r.flagged, r.wrong])
    return buffer.getvalue()
