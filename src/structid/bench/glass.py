"""Liquid or glass: every method on melt-quench runs that no model trained on.

The runs are other seeds, sizes and cooling rates than the training runs
(``structid md run quench -s cu,al --seed 1 --size 4000``, ``structid md run cycle -s ni,cuzr
--seed 1 --size 4000``) and a metal no model saw (``structid md run quench -s pd``). A snapshot
is judged when its recipe labels it and, for liquids and glasses, its window passes the
dynamics check of :mod:`structid.md.dynamics` (a liquid flows, a glass does not, neither has
crystallized): the crystal before melting (0.3 Tm), the liquid (at or above Tm) and the glass
(at or below 0.5 Tm). Right is the exact label: ``liquid`` for a liquid, ``amorphous`` for a
glass, the crystal's own for a crystal.

The cycle runs also give the per-frame fractions through heating, melting and quenching (the
Neighbors Map paper's Figs. 5 and 7).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.labels import Classifier
from structid.md.dynamics import check_run
from structid.md.store import FinishedRun, finished_runs

#: (recipe, system, run) of the test runs; ``pd`` and ``cuzr`` are in no model's training set
TEST_RUNS: tuple[tuple[str, str, str], ...] = (
    ("cycle", "ni", "cycle-seed1"),
    ("cycle", "cuzr", "cycle-seed1"),
    ("quench", "cu", "quench-20ps-seed1"),
    ("quench", "cu", "quench-100ps-seed1"),
    ("quench", "al", "quench-20ps-seed1"),
    ("quench", "al", "quench-100ps-seed1"),
    ("quench", "pd", "quench-20ps"),
    ("quench", "pd", "quench-100ps"),
)
#: the structures a fraction plot shows
PLOTTED = ("fcc", "hcp", "bcc", "liquid", "amorphous", "other", "unknown")


@dataclass
class Row:
    """One method on the judged snapshots of one (run, truth)."""

    system: str
    run: str
    truth: str
    method: str
    frames: int
    atoms: int
    right: int


@dataclass
class Track:
    """Per-frame fractions of one method through one run (every snapshot, judged or not)."""

    system: str
    run: str
    method: str
    setpoint_K: np.ndarray
    temperature_K: np.ndarray
    fractions: dict[str, np.ndarray]


def test_runs(root: Path) -> list[FinishedRun]:
    """The finished test runs under ``root`` (a missing one is skipped)."""
    found = []
    for recipe, system, name in TEST_RUNS:
        try:
            runs = finished_runs(root, recipe, [system])
        except InputError:
            continue
        found += [r for r in runs if r.meta["run"] == name]
    if not found:
        raise InputError(f"no test runs under {root / 'md'}; make them with `structid md run quench -s cu,al "
                         "--seed 1 --size 4000`, `structid md run quench -s pd` and `structid md run cycle "
                         "-s ni,cuzr --seed 1 --size 4000`")
    return found


def evaluate(classifiers: Mapping[str, Classifier], root: Path, progress=None,
             runs: list[FinishedRun] | None = None) -> tuple[list[Row], list[Track]]:
    """Every classifier on every judged snapshot of every test run (or of ``runs``); per-frame
    fractions of the cycle runs."""
    rows, tracks = [], []
    for run in test_runs(root) if runs is None else runs:
        info = run.meta["frames"]
        judged = {k: f["label"] for k, f in enumerate(info) if f["label"] not in (None, "liquid", "amorphous")}
        frames = list(run.frames())
        for check in check_run(run, frames=frames):
            judged.update({k: check.label for k in check.used})
        track_all = run.meta["recipe"] == "cycle"
        for method, classifier in classifiers.items():
            if not _accepts(classifier, frames[0]):
                continue  # a model for other species (nmcnn-cuzr on Ni): an empty cell
            counts: dict[str, list[int]] = {}
            fractions = {name: np.zeros(len(frames)) for name in PLOTTED}
            for k, frame in enumerate(frames):
                if k not in judged and not track_all:
                    continue
                names = classifier.classify(frame).names
                if track_all:
                    for name in PLOTTED:
                        fractions[name][k] = np.mean(names == name)
                if k in judged:
                    entry = counts.setdefault(judged[k], [0, 0, 0])
                    entry[0] += 1
                    entry[1] += len(names)
                    entry[2] += int(np.sum(names == judged[k]))
            rows += [Row(run.system, run.meta["run"], truth, method, *entry) for truth, entry in counts.items()]
            if track_all:
                tracks.append(Track(run.system, run.meta["run"], method,
                                    np.array([f["setpoint_K"] for f in info]), np.array([f["T_K"] for f in info]),
                                    fractions))
            if progress:
                progress(f"{run.system}/{run.meta['run']} {method}")
    return rows, tracks


def _accepts(classifier: Classifier, frame) -> bool:
    """Whether ``classifier`` takes the run's species (a species-channel model refuses others)."""
    while hasattr(classifier, "classifier"):  # through averaging and checks to the model
        classifier = classifier.classifier
    descriptor = getattr(classifier, "descriptor", None)
    if descriptor is None or not getattr(descriptor, "channel_weights", None):
        return True
    return all(set(np.unique(frame.species)) <= set(w) for w in descriptor.channel_weights)


def markdown(rows: list[Row]) -> str:
    """Per (system, run, truth): % of atoms right for each method; then pooled per truth, with
    the unseen metal (pd) apart."""
    methods = list(dict.fromkeys(r.method for r in rows))
    table = {(r.system, r.run, r.truth, r.method): r for r in rows}
    keys = list(dict.fromkeys((r.system, r.run, r.truth) for r in rows))
    lines = ["| system | run | truth | frames | " + " | ".join(methods) + " |",
             "|---|---|---|---:|" + "---:|" * len(methods)]
    for key in keys:
        cells = [table.get((*key, m)) for m in methods]
        first = next(c for c in cells if c is not None)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {first.frames} | "
                     + " | ".join(f"{100 * c.right / c.atoms:.1f}" if c else "" for c in cells) + " |")
    lines += ["", "| pooled | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    groups: dict[str, list[Row]] = {}
    for r in rows:
        group = f"{r.truth}, {'pd (unseen metal)' if r.system == 'pd' else r.system}"
        groups.setdefault(group, []).append(r)
    for group in sorted(groups):
        cells = []
        for m in methods:
            mine = [r for r in groups[group] if r.method == m]
            cells.append(f"{100 * sum(r.right for r in mine) / max(sum(r.atoms for r in mine), 1):.1f}" if mine else "")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["system", "run", "truth", "method", "frames", "atoms", "right"])
    for r in rows:
        writer.writerow([r.system, r.run, r.truth, r.method, r.frames, r.atoms, r.right])
    return buffer.getvalue()


def tracks_csv(tracks: list[Track]) -> str:
    """One row per (run, method, frame): setpoint, temperature and the fraction of each structure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["system", "run", "method", "frame", "setpoint_K", "T_K", *PLOTTED])
    for t in tracks:
        for k in range(len(t.setpoint_K)):
            writer.writerow([t.system, t.run, t.method, k, f"{t.setpoint_K[k]:.1f}", f"{t.temperature_K[k]:.1f}",
                             *(f"{t.fractions[name][k]:.4f}" for name in PLOTTED)])
    return buffer.getvalue()


def figure(tracks: list[Track], system: str, method: str, reference: str = "ptm") -> bytes:
    """PNG bytes: ``method``'s fractions (solid) and ``reference``'s (dashed) through the cycle
    run of ``system``, with the temperature below."""
    from structid.plots import trajectory_plot

    mine = {t.method: t for t in tracks if t.system == system}
    if method not in mine:
        raise InputError(f"no fractions of {method!r} for {system!r}")
    shown = [n for n in PLOTTED if mine[method].fractions[n].max() > 0.02]
    ref = mine.get(reference)
    ref_shown = [n for n in PLOTTED if ref is not None and ref.fractions[n].max() > 0.02]
    return trajectory_plot(np.stack([mine[method].fractions[n] for n in shown], axis=1), shown,
                           np.stack([ref.fractions[n] for n in ref_shown], axis=1) if ref else None, ref_shown,
                           mine[method].temperature_K, f"{system}: {method} (solid) and {reference} (dashed)",
                           reference_label=reference)
