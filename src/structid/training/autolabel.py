"""Training labels from a user's own trajectory, with no hand labelling (the Neighbors Map
paper's workflow, §3.2–3.4).

A frame's atoms get their labels from, in this order of precedence:

1. a **window** the user names: ``"T<400:fcc"``, ``"frames 60-80:liquid"``,
   ``"frames 100- & T<600:amorphous"`` (conditions on the frame number, the timestep, or any
   thermo quantity of a LAMMPS log such as ``T``/``Temp`` or ``pe``/``PotEng``, or the mean of a
   per-atom dump column; ``&`` joins conditions). Every atom of the frame takes the label.
2. a per-atom **label column** of the dump (``--label-column``); frames without it stay
   unlabelled instead of stopping the run.
3. **confident PTM** (``--auto-label ptm``): PTM (optionally after denoising) in frames where at
   least ``min_share`` of the atoms match a template within the RMSD cutoff; the atoms that do
   not are ``unknown``.

``unknown`` atoms are never training samples (they stay in the frame as neighbours): one rule
for every trainer.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.io.readers import open_trajectory
from structid.io.selection import FrameSelection
from structid.io.thermo import UNITS, Thermo, canonical
from structid.labels import CODE, VOCABULARY, names_from_column

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                   ">": operator.gt, "==": operator.eq, "=": operator.eq}
_COMPARISON = re.compile(r"^\s*([A-Za-z_][\w\[\]\.]*)\s*(<=|>=|==|<|>|=)\s*([-+0-9.eE]+)\s*$")
_RANGE = re.compile(r"^\s*(frames?|steps?|timesteps?)\s+(\d+)\s*(?:(-)\s*(\d*))?\s*$", re.IGNORECASE)
UNKNOWN = CODE["unknown"]


@dataclass(frozen=True)
class FrameFacts:
    """What a window can ask about one frame: its number in the file, its timestep, and the
    frame-wide quantities (thermo of the log, else per-atom column means)."""

    path: str
    index: int
    timestep: int | None
    frame: Frame | None = None
    thermo: Thermo | None = None
    cache: dict = field(default_factory=dict)

    def where(self) -> str:
        return f"frame {self.index} of {self.path}"

    def value(self, name: str, option: str) -> float:
        """The frame's value of ``name`` (a thermo quantity, ``step`` or ``frame``)."""
        if name in self.cache:
            return self.cache[name]
        key = canonical(name)
        if key.lower() in ("frame", "frames"):
            value = float(self.index)
        elif key == "Step" or key.lower() in ("timestep", "steps"):
            if self.timestep is None:
                raise InputError(f"{option}: {self.where()} has no timestep; select by frames instead")
            value = float(self.timestep)
        elif self.thermo is not None and self.thermo.has(name):
            if self.timestep is None:
                raise InputError(f"{option}: {self.where()} has no timestep to find it in {self.thermo.source}")
            try:
                value = self.thermo.value(name, self.timestep, self.where())
            except InputError as exc:
                raise InputError(f"--log {exc}") from None
        elif self.frame is not None and name in self.frame.properties:
            column = np.asarray(self.frame.properties[name], dtype=float)
            value = float(column.mean())
        else:
            hint = (f"{self.thermo.source} has no such column (columns: {', '.join(self.thermo.columns)})"
                    if self.thermo is not None else "give --log LOG (the run's LAMMPS log with its thermo output)")
            raise InputError(f"{option}: {self.where()} has no {name!r} ({key}): {hint}, or a per-atom "
                             f"dump column named {name!r}")
        self.cache[name] = value
        return value


@dataclass(frozen=True)
class Condition:
    """One test on a frame: ``low <= value(name) <= high`` style, or a comparison."""

    name: str
    op: str
    bound: float

    def holds(self, facts: FrameFacts, option: str) -> bool:
        return _OPS[self.op](facts.value(self.name, option), self.bound)


@dataclass(frozen=True)
class Window:
    """``CONDITIONS:LABEL``: every atom of a frame meeting all conditions is ``label``."""

    text: str
    conditions: tuple[Condition, ...]
    label: str

    @property
    def option(self) -> str:
        return f"--window {self.text!r}"

    @classmethod
    def parse(cls, text: str) -> Window:
        """From ``"T<400:fcc"``, ``"frames 60-80:liquid"``, ``"steps 0-20000 & pe<-4.3:fcc"``."""
        option = f"--window {text!r}"
        body, colon, label = text.rpartition(":")
        label = label.strip()
        if not colon or not body.strip() or not label:
            raise InputError(f"{option}: write CONDITIONS:LABEL, e.g. 'T<400:fcc' or 'frames 60-80:liquid'")
        if label not in CODE:
            raise InputError(f"{option}: {label!r} is not a structure name; use one of "
                             f"{', '.join(n for n in VOCABULARY if n != 'unknown')}")
        if label == "unknown":
            raise InputError(f"{option}: 'unknown' is not a class to train; name the structure the frames hold")
        conditions = []
        for part in re.split(r"&|\band\b", body):
            conditions.extend(_parse_condition(part, option))
        return cls(text, tuple(conditions), label)

    def matches(self, facts: FrameFacts) -> bool:
        return all(c.holds(facts, self.option) for c in self.conditions)


def _parse_condition(part: str, option: str) -> list[Condition]:
    ranged = _RANGE.match(part)
    if ranged:
        kind = "frame" if ranged.group(1).lower().startswith("frame") else "step"
        lo = int(ranged.group(2))
        if ranged.group(3) is None:
            return [Condition(kind, "==", lo)]
        hi = ranged.group(4)
        if hi and int(hi) < lo:
            raise InputError(f"{option}: {part.strip()!r} runs backwards; write START-STOP with START <= STOP")
        return [Condition(kind, ">=", lo)] + ([Condition(kind, "<=", int(hi))] if hi else [])
    compared = _COMPARISON.match(part)
    if compared:
        try:
            bound = float(compared.group(3))
        except ValueError:
            bound = float("nan")
        if not np.isfinite(bound):
            raise InputError(f"{option}: cannot read the number in {part.strip()!r}")
        return [Condition(compared.group(1), compared.group(2), bound)]
    raise InputError(f"{option}: cannot read condition {part.strip()!r}; write e.g. 'T<400', "
                     "'pe>=-4.2', 'frames 60-80', 'steps 100000-' joined by '&'")


def describe(window: Window, facts: list[FrameFacts]) -> str:
    """The range of each quantity the window tests, over ``facts``: helps a user fix a window
    that selects nothing."""
    parts = []
    for name in dict.fromkeys(c.name for c in window.conditions):
        try:
            values = [f.value(name, window.option) for f in facts]
        except InputError:
            continue
        unit = UNITS.get(canonical(name), "")
        parts.append(f"{name} from {min(values):g} to {max(values):g}{' ' + unit if unit else ''}")
    return "; ".join(parts)


@dataclass(frozen=True)
class PTMLabels:
    """Confident-PTM labels: PTM (after ``denoise`` steps of the default denoiser, if > 0) with
    ``rmsd_cutoff``; a frame is used when at least ``min_share`` of its atoms match; classes
    making up less than ``min_class_share`` of all PTM-labelled atoms are left ``unknown``
    (a handful of fcc atoms in hcp are stacking noise, not a class)."""

    rmsd_cutoff: float = 0.1
    min_share: float = 0.9
    denoise: int = 0
    min_class_share: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.min_share <= 1:
            raise InputError(f"--confident-share must be in (0, 1], got {self.min_share}")
        if not 0 < self.rmsd_cutoff:
            raise InputError(f"--rmsd-cutoff must be positive for --auto-label ptm, got {self.rmsd_cutoff}")
        if self.denoise < 0:
            raise InputError(f"--auto-denoise must be >= 0, got {self.denoise}")

    def classifier(self):
        from structid.classical import PTM

        ptm = PTM(rmsd_cutoff=self.rmsd_cutoff)
        if not self.denoise:
            return ptm
        from structid.models.compose import Denoised
        from structid.registry import get_denoiser

        return Denoised(get_denoiser(None), ptm, iterations=self.denoise)

    def codes(self, labels) -> tuple[np.ndarray, float]:
        """(per-atom codes with non-matching atoms ``unknown``, share of matching atoms)."""
        codes = np.asarray(labels.codes).copy()
        bad = codes == CODE["other"]
        rmsd = labels.extra.get("rmsd")
        if rmsd is not None:
            bad |= ~(np.asarray(rmsd) <= self.rmsd_cutoff)
        codes[bad] = UNKNOWN
        return codes, float(1 - bad.mean()) if len(codes) else 0.0


@dataclass(eq=False)
class LabelledFrameRecord:
    """One frame of a user's trajectory after labelling (frames are re-read for sampling)."""

    path: str
    file: int  # position of the input among the trainer's inputs (a path may come twice)
    index: int
    timestep: int | None
    n_atoms: int
    codes: np.ndarray | None  # (n_atoms,) int8 vocabulary codes, None = unlabelled
    source: str | None  # which rule labelled it
    holdout: bool
    quantities: dict[str, float]  # T, pe... when known (for the report)
    ptm_counts: dict[str, int] | None = None


@dataclass
class TrajectoryLabels:
    """Every frame's labels and where they came from; see :func:`label_trajectories`."""

    frames: list[LabelledFrameRecord]
    windows: list[Window]
    notes: list[str]

    def training(self) -> list[LabelledFrameRecord]:
        return [f for f in self.frames if f.codes is not None and not f.holdout]

    def heldout(self) -> list[LabelledFrameRecord]:
        return [f for f in self.frames if f.codes is not None and f.holdout]

    def class_counts(self, records: list[LabelledFrameRecord] | None = None) -> dict[str, int]:
        total = np.zeros(len(VOCABULARY), dtype=np.int64)
        for f in self.training() if records is None else records:
            total += np.bincount(f.codes, minlength=len(VOCABULARY))
        return {VOCABULARY[c]: int(n) for c, n in enumerate(total) if n and c != UNKNOWN}

    def by_source(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.frames:
            key = (f.source or "unlabelled") + (" (held out)" if f.holdout and f.source else "")
            out[key] = out.get(key, 0) + 1
        return out


def label_trajectories(inputs: list[tuple[str, str | None]], *, windows: list[Window] = (), label_column: str | None = None,
                       ptm: PTMLabels | None = None, logs: list[Thermo | None] | None = None,
                       types: dict[int, str] | None = None, selection: FrameSelection | None = None,
                       holdout: FrameSelection | None = None,
                       on_frame: Callable[[LabelledFrameRecord], None] | None = None) -> TrajectoryLabels:
    """Label every selected frame of ``inputs`` ((path, label every atom of it has, or None)) by
    the rules of this module: windows, then the file's own label, then the label column, then
    confident PTM. ``holdout`` frames are labelled the same way but kept out
    of training (the report's held-out check). Raises :class:`InputError` for overlapping windows
    or a window that selects no frame."""
    logs = list(logs) if logs else [None] * len(inputs)
    classifier = ptm.classifier() if ptm is not None else None
    records: list[LabelledFrameRecord] = []
    all_facts: list[FrameFacts] = []
    hits = {w.text: 0 for w in windows}
    for file, ((path, fixed), thermo) in enumerate(zip(inputs, logs)):
        for index, frame in (selection or FrameSelection()).apply(open_trajectory(path, types=types), path):
            facts = FrameFacts(path, index, frame.info.get("timestep"), frame, thermo)
            matched = [w for w in windows if w.matches(facts)]
            if len(matched) > 1:
                raise InputError(f"{matched[0].option} and {matched[1].option} both select {facts.where()}; "
                                 "make the windows disjoint")
            codes, source, ptm_counts = None, None, None
            if classifier is not None:
                labels = classifier.classify(frame)
                ptm_counts = labels.counts()
            if matched:
                hits[matched[0].text] += 1
                codes, source = np.full(len(frame), CODE[matched[0].label], dtype=np.int8), f"window {matched[0].text}"
            elif fixed is not None:
                codes, source = np.full(len(frame), CODE[fixed], dtype=np.int8), f"{fixed}=FILE"
            elif label_column is not None and label_column in frame.properties:
                names = names_from_column(label_column, frame.properties[label_column], path)
                codes, source = np.array([CODE[n] for n in names], dtype=np.int8), f"column {label_column}"
            elif classifier is not None:
                ptm_codes, share = ptm.codes(labels)
                if share >= ptm.min_share:
                    codes, source = ptm_codes.astype(np.int8), "ptm"
            quantities = {}
            for name in ("T", "pe"):
                try:
                    quantities[canonical(name)] = facts.value(name, "")
                except InputError:
                    pass
            record = LabelledFrameRecord(path, file, index, facts.timestep, len(frame), codes, source,
                                         bool(holdout is not None and holdout.wanted(index)), quantities, ptm_counts)
            records.append(record)
            all_facts.append(FrameFacts(path, index, facts.timestep, None, thermo, dict(facts.cache)))
            if on_frame is not None:
                on_frame(record)
    for window in windows:
        if not hits[window.text]:
            seen = describe(window, all_facts)
            raise InputError(f"{window.option} selects no frame{' (the frames have ' + seen + ')' if seen else ''}")
    notes = _drop_rare_ptm_classes(records, ptm) if ptm is not None else []
    return TrajectoryLabels(records, list(windows), notes)


def _drop_rare_ptm_classes(records: list[LabelledFrameRecord], ptm: PTMLabels) -> list[str]:
    ptm_frames = [r for r in records if r.source == "ptm"]
    if not ptm_frames:
        return []
    total = np.zeros(len(VOCABULARY), dtype=np.int64)
    for r in ptm_frames:
        total += np.bincount(r.codes, minlength=len(VOCABULARY))
    labelled = total.sum() - total[UNKNOWN]
    rare = [c for c in np.flatnonzero(total) if c != UNKNOWN and total[c] < ptm.min_class_share * labelled]
    for r in ptm_frames:
        r.codes[np.isin(r.codes, rare)] = UNKNOWN
    return [f"PTM's {VOCABULARY[c]} ({total[c]} atoms, under {ptm.min_class_share:.0%} of its labels) left out"
            for c in rare]


def check_classes(counts: dict[str, int], minimum: int) -> None:
    """At least two classes, each with ``minimum`` labelled atoms; else a one-line error."""
    if not counts:
        raise InputError("no labelled atoms to train on: give --window, --auto-label ptm or --label-column "
                         "(or LABEL=FILE)")
    small = {k: v for k, v in counts.items() if v < minimum}
    if small:
        name, n = next(iter(small.items()))
        raise InputError(f"class {name!r} has {n} labelled atom(s), training needs at least {minimum} per "
                         "class (--min-class-atoms): widen its --window or label more frames")
    if len(counts) < 2:
        raise InputError(f"only one class ({next(iter(counts))}) is labelled; a classifier needs two or more: "
                         "add a --window for another phase")


def class_quotas(records: list[LabelledFrameRecord], per_class: int,
                 rng: np.random.Generator) -> list[dict[int, int]]:
    """How many atoms of each class to sample from each record so that every class gets
    ``per_class`` samples in total, spread over its frames in proportion to its atoms there."""
    quotas: list[dict[int, int]] = [{} for _ in records]
    codes = sorted({int(c) for r in records for c in np.unique(r.codes) if c != UNKNOWN})
    for code in codes:
        have = np.array([np.count_nonzero(r.codes == code) for r in records], dtype=float)
        draws = rng.multinomial(per_class, have / have.sum())
        for k in np.flatnonzero(draws):
            quotas[k][code] = int(draws[k])
    return quotas


def records_with_frames(records: list[LabelledFrameRecord], types: dict[int, str] | None = None
                        ) -> Iterator[tuple[LabelledFrameRecord, Frame]]:
    """Re-read the frames of ``records`` (in file order, each file once)."""
    by_file: dict[int, dict[int, LabelledFrameRecord]] = {}
    for r in records:
        by_file.setdefault(r.file, {})[r.index] = r
    for wanted in by_file.values():
        path = next(iter(wanted.values())).path
        last = max(wanted)
        for index, frame in enumerate(open_trajectory(path, types=types)):
            if index in wanted:
                if len(frame) != wanted[index].n_atoms:
                    raise InputError(f"{path}: frame {index} changed while training ({len(frame)} atoms, "
                                     f"{wanted[index].n_atoms} before)")
                yield wanted[index], frame
            if index >= last:
                break


def code_names(codes: np.ndarray) -> np.ndarray:
    """Vocabulary names of int codes."""
    return np.asarray(VOCABULARY, dtype=object)[np.asarray(codes, dtype=int)].astype(str)

