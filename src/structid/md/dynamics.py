"""Do the atoms of a run flow? The check that the temperature windows of a melt-and-quench recipe
label what they claim: a frame labelled ``liquid`` is one whose atoms leave their cages, one
labelled ``amorphous`` is a solid (its atoms stay caged) that has not crystallized.

A window is a run of consecutive snapshots with the same label; what is measured is the share
of atoms that moved more than half a first-shell distance d from its first to its last snapshot
(left their cage) and the mean-square displacement (MSD, in d²). An amorphous window that flows
(the hottest snapshots of a slow quench are still an undercooled liquid) is shortened from its
hot end until what is left is solid; snapshots that fail are not used for training.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.md.store import FinishedRun, LabelledFrame, finished_runs
from structid.neighbors import nn_distance

#: an atom has left its cage when it moved farther than this (in d) over a window
CAGE = 0.5
#: an amorphous window is solid when at most this share of atoms left their cage (a glass just
#: below Tg ages: in a Ni glass held 3 ps at 0.3 Tm after a 1.4e14 K/s quench, 1.9 %; a crystal 0 %)
GLASS_MOBILE = 0.05
#: a liquid window flows when at least this share of atoms left their cage (melts: 98-100 %)
LIQUID_MOBILE = 0.5
#: a liquid or amorphous snapshot with more than this share of a-CNA crystalline atoms has
#: crystallized (a metal glass has a few per cent of fcc/hcp-like motifs)
CRYSTAL_SHARE = 0.10


def displacements(frames: Sequence[Frame]) -> np.ndarray:
    """(n_frames, n, 3) displacement (Å) of every atom from the first frame, unwrapped through
    the periodic boundaries snapshot by snapshot (so no atom may move half a cell between two
    snapshots) and matched by atom id; the cell may change between snapshots (barostat)."""
    if not frames:
        return np.zeros((0, 0, 3))
    first = frames[0]
    order = np.argsort(first.ids)
    ids = first.ids[order]
    out = np.zeros((len(frames), len(first), 3))
    previous = _fractional(first)[order]
    for k, frame in enumerate(frames[1:], start=1):
        where = np.argsort(frame.ids)
        if len(frame) != len(first) or not np.array_equal(frame.ids[where], ids):
            raise InputError(f"snapshot {k} holds other atoms than the first; displacements need the same atoms")
        current = _fractional(frame)[where]
        step = current - previous
        step -= np.round(step) * frame.pbc
        out[k] = out[k - 1] + step @ frame.cell
        previous = current
    return out


def _fractional(frame: Frame) -> np.ndarray:
    return (frame.positions - frame.origin) @ np.linalg.inv(frame.cell)


def mean_square_displacement(frames: Sequence[Frame]) -> np.ndarray:
    """(n_frames,) mean-square displacement (Å²) of the atoms from the first frame."""
    return (displacements(frames) ** 2).sum(axis=2).mean(axis=1)


def mobile_share(frames: Sequence[Frame], d: float) -> tuple[float, float]:
    """(share of atoms that moved farther than :data:`CAGE` d, MSD in d²) from the first to the
    last of ``frames``; ``d``: the first-shell distance, Å."""
    if len(frames) < 2:
        return 0.0, 0.0
    moved = np.linalg.norm(displacements([frames[0], *frames[1:]])[-1], axis=1) / d
    return float(np.mean(moved > CAGE)), float(np.mean(moved ** 2))


@dataclass(frozen=True)
class WindowCheck:
    """The verdict on one labelled window of one run (``used``: the snapshots kept)."""

    source: str  # "<recipe>/<system>/<run>"
    label: str
    frames: tuple[int, int]  # first, last snapshot of the window
    used: tuple[int, ...]
    setpoint_K: tuple[float, float]
    span_ps: float
    # over the kept snapshots (over the whole window when none is kept)
    mobile: float  # share of atoms that left their cage
    msd_d2: float  # MSD, d²
    crystalline: float  # largest a-CNA crystalline share of a kept (or any) snapshot
    passed: bool
    why: str


def check_run(run: FinishedRun, labels: set[str] = frozenset({"liquid", "amorphous"}),
              frames: list[Frame] | None = None) -> list[WindowCheck]:
    """Check every window of ``run`` whose label is in ``labels`` (``frames``: its snapshots,
    when the caller has read them already)."""
    from structid.classical import AdaptiveCNA

    meta, info = run.meta, run.meta["frames"]
    frames = list(run.frames()) if frames is None else frames
    source = f"{meta['recipe']}/{meta['system']}/{meta['run']}"
    acna = AdaptiveCNA()
    checks = []
    for label, indices in _windows([f["label"] for f in info]):
        if label not in labels:
            continue
        d = float(np.median([nn_distance(frames[k]) for k in indices]))
        crystalline = {k: float(np.mean(acna.classify(frames[k]).names != "other")) for k in indices}
        solid = [k for k in indices if crystalline[k] <= CRYSTAL_SHARE]
        if label == "amorphous":
            # drop hot snapshots until the rest is a solid
            kept = solid
            while len(kept) > 1 and mobile_share([frames[k] for k in kept], d)[0] > GLASS_MOBILE:
                kept = kept[1:]
            mobile, msd = mobile_share([frames[k] for k in (kept if len(kept) > 1 else indices)], d)
            ok = len(kept) > 1 and mobile <= GLASS_MOBILE
            why = "solid" if ok else f"flows ({100 * mobile:.0f} % mobile)" if solid else "crystallized"
        else:
            kept = solid
            mobile, msd = mobile_share([frames[k] for k in indices], d)
            ok = bool(kept) and len(indices) > 1 and mobile >= LIQUID_MOBILE
            why = "flows" if ok else "crystallized" if not kept else f"does not flow ({100 * mobile:.0f} % mobile)"
        if not ok:
            kept = []
        times = [info[k]["timestep"] * meta["timestep_ps"] for k in (kept or indices)]
        setpoints = [info[k]["setpoint_K"] for k in (kept or indices)]
        checks.append(WindowCheck(source, label, (indices[0], indices[-1]), tuple(kept),
                                  (min(setpoints), max(setpoints)), float(times[-1] - times[0]), mobile, msd,
                                  max(crystalline[k] for k in (kept or indices)), ok, why))
    return checks


def _windows(labels: list[str | None]) -> Iterator[tuple[str, list[int]]]:
    start = 0
    for k in range(1, len(labels) + 1):
        if k == len(labels) or labels[k] != labels[start]:
            if labels[start] is not None:
                yield labels[start], list(range(start, k))
            start = k


def checked_frames(root: Path, recipe: str, systems: list[str] | None = None,
                   labels: set[str] | None = None) -> tuple[list[LabelledFrame], list[WindowCheck]]:
    """The labelled snapshots of ``recipe``'s finished runs that pass the dynamics check (crystal
    snapshots are kept as labelled), and every window's verdict."""
    kept, checks = [], []
    for run in finished_runs(root, recipe, systems):
        frames = list(run.frames())
        run_checks = check_run(run, frames=frames)
        checks.extend(run_checks)
        passed = {k for c in run_checks for k in c.used}
        meta = run.meta
        for k, (frame, info) in enumerate(zip(frames, meta["frames"])):
            label = info["label"]
            if label is None or (labels and label not in labels):
                continue
            if label in ("liquid", "amorphous") and k not in passed:
                continue
            kept.append(LabelledFrame(frame, label, f"{recipe}/{meta['system']}/{meta['run']}#{k}",
                                      info["setpoint_K"] / meta["tm"]))
    return kept, checks


def checks_markdown(checks: list[WindowCheck]) -> list[str]:
    """The verdicts as a Markdown table."""
    lines = ["| run | label | snapshots | kept | setpoint (K) | span (ps) | moved > 0.5 d | MSD (d²) | "
             "a-CNA crystalline | verdict |",
             "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for c in checks:
        lines.append(f"| {c.source} | {c.label} | {c.frames[0]}-{c.frames[1]} | {len(c.used)} | "
                     f"{c.setpoint_K[0]:.0f}-{c.setpoint_K[1]:.0f} | {c.span_ps:.1f} | {100 * c.mobile:.1f} % | "
                     f"{c.msd_d2:.3f} | "
                     f"{100 * c.crystalline:.1f} % | {c.why} |")
    return lines
