"""Where generated MD data lives and how it is laid out: the one module that knows it.

``DATA/md/<recipe>/<system>/<run>.lammpstrj.gz`` holds the snapshots (true labels in the
``StructureType`` column; ``structure_id`` in runs cached by structid 0.1), ``<run>.json``
beside it the run's metadata with one entry per frame
(``label``: one name, ``"per-atom"`` for the dump's column, or None). ``DATA`` is
``~/.cache/structid`` unless ``--data-dir`` or ``$STRUCTID_DATA`` says otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.io.readers import open_trajectory
from structid.labels import LEGACY_COLUMN, STRUCTURE_TYPE_COLUMNS, names_from_column

#: version of the metadata files written by :mod:`structid.md.simulate`
FORMAT_VERSION = 1
#: the per-atom column of a run's inherent-structure labels (OVITO structure-type numbers), in
#: the runs of recipes that minimise every snapshot (``Run.inherent``)
INHERENT_COLUMN = "inherent_structure"
DUMP_SUFFIX = ".lammpstrj.gz"
META_SUFFIX = ".json"
LOG_SUFFIX = ".log"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where generated data goes: ``path``, else ``$STRUCTID_DATA``, else ``~/.cache/structid``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("STRUCTID_DATA", Path.home() / ".cache" / "structid"))


def run_paths(root: Path, recipe: str, system: str, run: str) -> tuple[Path, Path]:
    """(dump, metadata) files of one run under the data directory ``root``."""
    folder = Path(root) / "md" / recipe / system
    return folder / f"{run}{DUMP_SUFFIX}", folder / f"{run}{META_SUFFIX}"


def log_path(dump: Path) -> Path:
    """The LAMMPS log (thermo output at every snapshot's step) kept beside a run's dump."""
    return Path(str(dump).removesuffix(DUMP_SUFFIX) + LOG_SUFFIX)


@dataclass(frozen=True)
class FinishedRun:
    """A completed run: its metadata (the JSON file) and its dump."""

    meta: dict
    dump: Path

    @property
    def system(self) -> str:
        return self.meta["system"]

    def frames(self) -> Iterator[Frame]:
        """The snapshots, streamed."""
        return iter(open_trajectory(self.dump))


def finished_runs(root: Path, recipe: str, systems: list[str] | None = None) -> list[FinishedRun]:
    """Every finished run of ``recipe`` (of ``systems``, default all) under ``root``, in name
    order; an :class:`InputError` says how to make them when there is none."""
    folder = Path(root) / "md" / recipe
    runs = []
    for meta_path in sorted(folder.glob(f"*/*{META_SUFFIX}")):
        dump = meta_path.with_suffix(DUMP_SUFFIX)
        if not dump.exists():
            continue  # still running, or interrupted
        meta = json.loads(meta_path.read_text())
        if not systems or meta["system"] in systems:
            runs.append(FinishedRun(meta, dump))
    if not runs:
        raise InputError(f"no finished runs under {folder} for systems {systems or 'all'}; "
                         f"run `structid md run {recipe}` first")
    return runs


@dataclass(frozen=True)
class LabelledFrame:
    """A frame whose atoms carry ``label`` (one name, or one per atom), and where it came from."""

    frame: Frame
    label: str | np.ndarray
    source: str  # "<recipe>/<system>/<run>#<frame index>"
    th: float | None = None  # the run's T / Tm, where the recipe sets one

    @property
    def system(self) -> str:
        return self.source.split("/")[1]

    def names(self) -> np.ndarray:
        """(n_atoms,) structure name of every atom."""
        return np.full(len(self.frame), self.label) if isinstance(self.label, str) else self.label


def per_atom_names(frame: Frame, run) -> np.ndarray:
    """The per-atom labels of an MD dump: ``StructureType`` (runs made since the ids follow
    OVITO's) or ``structure_id`` (older cached runs, read in their order)."""
    for column in (*STRUCTURE_TYPE_COLUMNS, LEGACY_COLUMN):
        if column in frame.properties:
            return names_from_column(column, frame.properties[column], str(run.dump))
    raise InputError(f"{run.dump}: per-atom labels without a StructureType column; delete the run "
                     "and make it again with `structid md run`")


def labelled_frames(root: Path, recipe: str, systems: list[str] | None = None,
                    labels: set[str] | None = None,
                    frame_indices: tuple[int, ...] | None = None) -> Iterator[LabelledFrame]:
    """Labelled frames of finished runs; ``frame_indices`` picks frames of each run (e.g. the
    training split, or the held-out one). Runs labelled per atom (interfaces) give the names of
    the dump's ``StructureType`` column; ``labels`` filters whole frames by their one label and
    leaves per-atom frames whole."""
    found = False
    for run in finished_runs(root, recipe, systems):
        meta = run.meta
        for k, (frame, info) in enumerate(zip(run.frames(), meta["frames"])):
            label = info["label"]
            if label == "per-atom":
                label = per_atom_names(frame, run)
            elif label is None or (labels and label not in labels):
                continue
            if frame_indices is not None and k not in frame_indices:
                continue
            found = True
            yield LabelledFrame(frame, label, f"{recipe}/{meta['system']}/{meta['run']}#{k}", meta.get("th"))
    if not found:
        raise InputError(f"no labelled frames under {Path(root) / 'md' / recipe} for systems "
                         f"{systems or 'all'}; run `structid md run {recipe}` first")
