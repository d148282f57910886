"""Trajectory analysis: how much of each structure, frame by frame.

Follows the analysis-object habit of MDAnalysis: :meth:`StructureFractions.prepare`, one
:meth:`~StructureFractions.process` per frame, :meth:`~StructureFractions.conclude`; or all
three with :meth:`~StructureFractions.run`. Results end in ``_``.

    >>> analysis = StructureFractions(get_classifier("ptm")).run(open_trajectory("dump.lammpstrj"))
    >>> analysis.fractions_          # (n_frames, n_structures), columns analysis.names_
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from structid.errors import InputError, NotFittedError
from structid.frame import Frame, as_frame
from structid.labels import VOCABULARY, Classifier, Labels
from structid.neighbors import Neighbors


@dataclass(frozen=True)
class FrameCounts:
    """Atoms per structure in one frame."""

    index: int
    timestep: int | None
    atoms: int
    counts: dict[str, int]

    @property
    def fractions(self) -> dict[str, float]:
        return {name: n / max(self.atoms, 1) for name, n in self.counts.items()}


class StructureFractions:
    """Per-frame counts and fractions of every structure a classifier finds in a trajectory.

    After :meth:`conclude`: ``frames_`` (one :class:`FrameCounts` per frame), ``names_`` (the
    structures found, in vocabulary order), ``fractions_`` (n_frames, len(names_)),
    ``timesteps_`` (n_frames,) or None when a frame has no timestep, ``total_counts_``.
    ``temperatures_`` (n_frames,) K, None unless set by the caller (e.g. from the run's log):
    then the CSV and JSON carry it and the plot is against it.
    """

    temperatures_: np.ndarray | None = None

    def __init__(self, classifier: Classifier, neighbors: Neighbors = None) -> None:
        self.classifier = classifier
        self.neighbors = neighbors

    @property
    def method(self) -> str:
        return getattr(self.classifier, "name", type(self.classifier).__name__)

    def prepare(self) -> StructureFractions:
        self._frames: list[FrameCounts] = []
        self._total = np.zeros(len(VOCABULARY), dtype=np.int64)
        return self

    def process(self, frame: Frame) -> Labels:
        """Classify one frame, record its counts and return its labels."""
        frame = as_frame(frame)
        return self.record(frame, self.classifier.classify(frame, self.neighbors))

    def record(self, frame: Frame, labels: Labels) -> Labels:
        """Record the counts of labels made elsewhere (e.g. by a Dask worker); returns them."""
        self._frames.append(FrameCounts(len(self._frames), frame.info.get("timestep"), len(frame), labels.counts()))
        self._total += np.bincount(labels.codes, minlength=len(VOCABULARY))
        return labels

    def conclude(self) -> StructureFractions:
        if not self._frames:
            raise InputError("the trajectory contains no frames")
        present = np.flatnonzero(self._total)
        self.frames_ = list(self._frames)
        self.names_ = [VOCABULARY[c] for c in present]
        self.total_counts_ = {VOCABULARY[c]: int(self._total[c]) for c in present}
        self.fractions_ = np.array([[f.counts.get(n, 0) / max(f.atoms, 1) for n in self.names_]
                                    for f in self.frames_]).reshape(len(self.frames_), len(self.names_))
        steps = [f.timestep for f in self.frames_]
        self.timesteps_ = None if any(s is None for s in steps) else np.array(steps)
        return self

    def run(self, frames: Iterable[Frame], on_frame: Callable[[Frame, Labels], None] | None = None) -> StructureFractions:
        """Process every frame (``on_frame(frame, labels)`` after each, e.g. to write them)."""
        self.prepare()
        for frame in frames:
            labels = self.process(frame)
            if on_frame is not None:
                on_frame(frame, labels)
        return self.conclude()

    def _check(self) -> None:
        if not hasattr(self, "frames_"):
            raise NotFittedError("call run() or conclude() first")

    @property
    def n_atoms(self) -> int:
        """Atom labels over all frames."""
        self._check()
        return sum(self.total_counts_.values())

    def summary(self, **header) -> dict:
        """Counts and fractions per frame and in total (JSON-ready), after ``header``."""
        self._check()
        n = max(self.n_atoms, 1)
        frames = [{"index": f.index, "timestep": f.timestep, "atoms": f.atoms, "counts": f.counts,
                   "fractions": f.fractions} for f in self.frames_]
        if self.temperatures_ is not None:
            for entry, t in zip(frames, self.temperatures_):
                entry["Temp"] = float(t)
        return {**header, "frames": frames,
                "total": {"atoms": self.n_atoms, "counts": dict(self.total_counts_),
                          "fractions": {k: v / n for k, v in self.total_counts_.items()}}}

    def to_json(self, **header) -> str:
        return json.dumps(self.summary(**header), indent=2)

    def to_csv(self) -> str:
        """One row per frame: index, timestep, atoms and the fraction of every structure found."""
        self._check()
        text = io.StringIO()
        writer = csv.writer(text)
        temps = self.temperatures_
        writer.writerow(["frame", "timestep", *(["Temp"] if temps is not None else []), "atoms", *self.names_])
        for k, (f, row) in enumerate(zip(self.frames_, self.fractions_)):
            writer.writerow([f.index, f.timestep, *([f"{temps[k]:.6g}"] if temps is not None else []), f.atoms,
                             *(f"{v:.6f}" for v in row)])
        return text.getvalue()

    def plot(self) -> bytes:
        """PNG of the fractions against temperature when set, else timestep (frame index when a
        timestep is missing)."""
        from structid.plots import fraction_plot

        self._check()
        if self.temperatures_ is not None:
            return fraction_plot(self.temperatures_, self.fractions_, self.names_, "temperature (K)",
                                 f"structure fractions ({self.method})")
        use_steps = self.timesteps_ is not None
        x = self.timesteps_ if use_steps else np.arange(len(self.frames_))
        return fraction_plot(x, self.fractions_, self.names_, "timestep" if use_steps else "frame",
                             f"structure fractions ({self.method})")
