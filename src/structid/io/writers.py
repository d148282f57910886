"""Writing frames with their structure labels: extended XYZ and LAMMPS dump, both of which
OVITO opens. Output goes to a temporary file that is renamed into place when complete, so a
failed run leaves nothing half-written; an input file is never overwritten.
"""

from __future__ import annotations

import os
import tempfile
from glob import escape as glob_escape
from pathlib import Path
from typing import IO

import numpy as np

from structid.errors import InputError
from structid.frame import Frame, completed_cell
from structid.io.compression import strip_suffix, wrap
from structid.labels import LEGACY_COLUMN, STRUCTURE_TYPE_COLUMNS, VOCABULARY, Labels

WRITE_FORMATS = ("extxyz", "lammps-dump")
#: label columns of an earlier classification, dropped when a frame is labelled again
LABEL_COLUMNS = ("structure", LEGACY_COLUMN, *STRUCTURE_TYPE_COLUMNS)
_ROWS_PER_WRITE = 65536


def output_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The output format: ``format`` if given, else from the file name (default extxyz)."""
    if format is not None:
        if format not in WRITE_FORMATS:
            raise InputError(f"cannot write format {format!r}; choose one of {', '.join(WRITE_FORMATS)}")
        return format

    name = strip_suffix(Path(path).name).lower()
    if name.endswith((".dump", ".lammpstrj", ".lammpsdump")) or name.startswith("dump."):
        return "lammps-dump"
    if name.endswith((".xyz", ".extxyz")):
        return "extxyz"
    raise InputError(f"{path}: cannot tell the output format from the name; use .extxyz or .lammpstrj")


class AtomicFile:
    """A file written under a temporary name in the target directory and renamed into place by
    :meth:`commit`; :meth:`abort` (or an exception inside ``with``) removes it.

    Args:
        path: the final path (``.gz``, ``.bz2``, ``.xz`` compress).
        force: allow replacing an existing file.
        protect: input files that must never be replaced, even with ``force``.
    """

    def __init__(self, path: str | os.PathLike, force: bool = False, protect: tuple = ()) -> None:
        self.path = Path(path)
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(f"{self.path}: the directory {parent} does not exist; create it first")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory; give a file name")
        for source in protect:
            if Path(source).exists() and self.path.exists() and self.path.samefile(source):
                raise InputError(f"{self.path}: is the input file; choose another output path (-o)")
        if self.path.exists() and not force:
            raise InputError(f"{self.path}: already exists; pass --force to replace it")
        _remove_stale_parts(self.path)
        try:
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{self.path.name}.{os.getpid()}.", suffix=".part")
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write in {parent} ({exc.strerror}); choose another "
                             "directory") from None
        self._tmp = Path(tmp)
        raw = os.fdopen(fd, "wb")
        self.stream: IO[bytes] = wrap(raw, self.path.name, "wb")
        self._raw = raw
        self._done = False

    def write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
        except OSError as exc:
            self.abort()
            raise InputError(f"{self.path}: writing failed ({exc.strerror or exc}); nothing was written") from None

    def commit(self) -> Path:
        """Close the temporary file and rename it to the final path."""
        if not self._done:
            try:
                self.stream.close()
                self._raw.close()
                # mkstemp creates the file private (0600); give it the usual permissions.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(self._tmp, 0o666 & ~umask)
                os.replace(self._tmp, self.path)
            except OSError as exc:
                self.abort()
                raise InputError(f"{self.path}: writing failed ({exc.strerror or exc}); nothing was written") from None
            self._done = True
        return self.path

    def abort(self) -> None:
        """Close and delete the temporary file (also when closing fails, e.g. on a full disk)."""
        if not self._done:
            self._done = True
            for stream in (self.stream, self._raw):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _remove_stale_parts(path: Path) -> None:
    """Delete temporary files of earlier runs writing ``path`` whose process is gone (killed
    runs that could not clean up)."""
    for part in path.parent.glob(f".{glob_escape(path.name)}.*.part"):
        pid = part.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            part.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TrajectoryWriter:
    """Write frames (optionally with labels) one after another to an extxyz or LAMMPS dump file.

    Use as a context manager; the file appears under its final name only when the block ends
    without an exception.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        format: str | None = None,
        force: bool = False,
        protect: tuple = (),
    ) -> None:
        self.format = output_format(path, format)
        self._file = AtomicFile(path, force=force, protect=protect)
        self.path = self._file.path

    def write(self, frame: Frame, labels: Labels | None = None) -> None:
        """Append one frame; ``labels`` adds the structure ids (``StructureType`` in a dump,
        ``structure_type`` and the names in ``structure`` in extxyz: the columns OVITO imports as
        its typed Structure Type) and, when present, ``prob_<class>`` columns. Label columns of
        an earlier run in the frame's properties are replaced, not repeated."""
        if labels is not None and len(labels) != len(frame):
            raise ValueError(f"{len(labels)} labels for a frame of {len(frame)} atoms")
        if self.format == "extxyz":
            _write_extxyz(self._file, frame, labels)
        else:
            _write_lammps_dump(self._file, frame, labels)

    def close(self) -> Path:
        return self._file.commit()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.__exit__(exc_type, exc, tb)


def write_frames(
    path: str | os.PathLike,
    frames: list[Frame] | Frame,
    labels: list[Labels] | Labels | None = None,
    format: str | None = None,
    force: bool = False,
) -> Path:
    """Write one frame or a list of frames (with matching labels) to ``path``."""
    frames = [frames] if isinstance(frames, Frame) else list(frames)
    if labels is None:
        labels = [None] * len(frames)
    elif isinstance(labels, Labels):
        labels = [labels]
    with TrajectoryWriter(path, format=format, force=force) as writer:
        for frame, frame_labels in zip(frames, labels, strict=True):
            writer.write(frame, frame_labels)
    return Path(path)


# -- columns ----------------------------------------------------------------------------------

def _label_columns(labels: Labels | None, id_column: str) -> list[tuple[str, np.ndarray, str]]:
    """(name, values, kind) columns of the labels; kind is S (text), I (integer) or R (real).
    ``id_column``: the name under which OVITO's reader of the format imports the ids as its
    ``Structure Type`` property."""
    if labels is None:
        return []
    columns = [("structure", np.asarray(VOCABULARY)[labels.codes], "S"),
               (id_column, labels.codes.astype(np.int64), "I")]
    if labels.probabilities is not None:
        for k, name in enumerate(labels.classes):
            columns.append((f"prob_{name}", labels.probabilities[:, k], "R"))
    for name, values in labels.extra.items():
        if np.asarray(values).ndim == 1:
            columns.append((name, np.asarray(values), "R"))
    return columns


def _property_columns(
    frame: Frame, skip: set[str], skip_text: bool = False, split: bool = True
) -> list[tuple[str, np.ndarray, str]]:
    """Extra per-atom properties of the frame as columns; (n, k) arrays are split into
    ``name_0 .. name_{k-1}`` unless ``split`` is False."""
    columns = []
    for name, values in frame.properties.items():
        values = np.asarray(values)
        if name in skip:
            continue
        kind = _kind(values)
        if kind == "S" and skip_text:
            continue
        if values.ndim == 1 or (values.ndim == 2 and not split):
            columns.append((name, values, kind))
        elif values.ndim == 2:
            columns.extend((f"{name}_{k}", values[:, k], kind) for k in range(values.shape[1]))
    return columns


def _replaced_columns(frame: Frame, labels: Labels | None, label_cols: list) -> set[str]:
    """Properties not written because new labels replace them: the new label columns and, when
    the frame is labelled, every label and probability column of an earlier classification."""
    replaced = {name for name, _, _ in label_cols}
    if labels is not None:
        replaced |= {name for name in frame.properties if name in LABEL_COLUMNS or name.startswith("prob_")}
    return replaced


def _kind(values: np.ndarray) -> str:
    """The extxyz column kind of an array: S (text), I (integer) or R (real)."""
    return "S" if values.dtype.kind in "USO" else "I" if values.dtype.kind in "iub" else "R"


_FORMAT = {"S": "%s", "I": "%d", "R": "%.8g"}


def _write_rows(out: AtomicFile, columns: list[tuple[np.ndarray, str]]) -> None:
    """Write rows made of the given (values, printf format) columns."""
    if not columns:
        return
    n = len(columns[0][0])
    fmt = " ".join(f for _, f in columns) + "\n"
    for start in range(0, n, _ROWS_PER_WRITE):
        stop = min(start + _ROWS_PER_WRITE, n)
        parts = [v[start:stop].tolist() for v, _ in columns]
        out.write("".join(fmt % row for row in zip(*parts)).encode())


# -- extended XYZ -------------------------------------------------------------------------------

def _write_extxyz(out: AtomicFile, frame: Frame, labels: Labels | None) -> None:
    label_cols = _label_columns(labels, "structure_type")
    skip = {"species", "pos", "id"} | _replaced_columns(frame, labels, label_cols)
    species, type_column = _extxyz_species(frame)
    extra = _property_columns(frame, skip | {"type"}, split=False) + type_column + label_cols
    width = {name: 1 if values.ndim == 1 else values.shape[1] for name, values, _ in extra}
    spec = ["species:S:1", "pos:R:3", "id:I:1"] + [f"{name}:{kind}:{width[name]}" for name, _, kind in extra]
    header = []
    if frame.pbc.any() or np.any(frame.cell):
        header.append('Lattice="' + " ".join(f"{v:.10g}" for v in frame.cell.ravel()) + '"')
    header.append("Properties=" + ":".join(spec))
    header.append('pbc="' + " ".join("T" if p else "F" for p in frame.pbc) + '"')
    if np.any(frame.origin):
        header.append('Origin="' + " ".join(f"{v:.10g}" for v in frame.origin) + '"')
    for key in ("timestep", "time"):
        if frame.info.get(key) is not None:
            header.append(f"{key}={frame.info[key]}")
    out.write(f"{len(frame)}\n{' '.join(header)}\n".encode())
    columns = [(species, "%s")] + [(frame.positions[:, k], "%.8f") for k in range(3)]
    columns.append((frame.ids, "%d"))
    for name, values, kind in extra:
        fmt = "%.6g" if name.startswith("prob_") else _FORMAT[kind]
        columns += [(values, fmt)] if values.ndim == 1 else [(v, fmt) for v in values.T]
    _write_rows(out, columns)


def _extxyz_species(frame: Frame) -> tuple[np.ndarray, list[tuple[str, np.ndarray, str]]]:
    """The ``species`` column and the ``type`` column. Species that are not element symbols
    (LAMMPS type numbers without ``--types``) are written as ASE's placeholder element ``X``,
    which ASE and OVITO read, with the names in ``type`` (or ``type_name`` when the frame's own
    ``type`` column says something else), read back by :meth:`structid.frame.Frame.from_ase`."""
    from ase.data import atomic_numbers

    columns = []
    if "type" in frame.properties and np.asarray(frame.properties["type"]).ndim == 1:
        values = np.asarray(frame.properties["type"])
        columns.append(("type", values, _kind(values)))
    names = np.unique(frame.species)
    if all(name in atomic_numbers and name != "X" for name in names):
        return frame.species, columns
    if not columns:
        numeric = all(name.isdigit() for name in names)
        columns.append(("type", frame.species.astype(np.int64) if numeric else frame.species, "I" if numeric else "S"))
    elif not np.array_equal(np.asarray(columns[0][1]).astype(str), frame.species):
        columns.append(("type_name", frame.species, "S"))
    return np.full(len(frame), "X"), columns


# -- LAMMPS dump --------------------------------------------------------------------------------

def lammps_box(frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The frame in LAMMPS's restricted-triclinic convention: ``(cell, origin, positions)`` with
    ``cell`` lower-triangular and a positive diagonal. A cell that is not already in that form is
    rotated (positions with it)."""
    cell = frame.cell.copy()
    positions = frame.positions
    origin = frame.origin
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(lengths <= 0):
        # Non-periodic directions without a cell vector: a box around the atoms.
        extent = np.ptp(positions, axis=0) + 1.0 if len(positions) else np.ones(3)
        low = positions.min(axis=0) - 0.5 if len(positions) else np.zeros(3)
        full = completed_cell(cell)
        for axis in np.flatnonzero(lengths <= 0):
            cell[axis] = full[axis] * extent[axis]
            origin = np.where(np.arange(3) == axis, low, origin)
    if cell[0, 1] == cell[0, 2] == cell[1, 2] == 0 and np.all(np.diag(cell) > 0):
        return cell, origin, positions
    q, r = np.linalg.qr(cell.T)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    rotation = q * signs  # cell @ rotation is lower triangular with a positive diagonal
    new_cell = cell @ rotation
    new_cell[np.triu_indices(3, 1)] = 0.0
    return new_cell, origin @ rotation, positions @ rotation


def _write_lammps_dump(out: AtomicFile, frame: Frame, labels: Labels | None) -> None:
    cell, origin, positions = lammps_box(frame)
    (lx, _, _), (xy, ly, _), (xz, yz, lz) = cell
    xlo, ylo, zlo = origin
    flags = " ".join("pp" if p else "ff" for p in frame.pbc)
    lines = [f"ITEM: TIMESTEP\n{int(frame.info.get('timestep') or 0)}\n",
             f"ITEM: NUMBER OF ATOMS\n{len(frame)}\n"]
    if xy == xz == yz == 0:
        lines.append(f"ITEM: BOX BOUNDS {flags}\n")
        lines += [f"{lo:.10g} {lo + length:.10g}\n" for lo, length in ((xlo, lx), (ylo, ly), (zlo, lz))]
    else:
        lines.append(f"ITEM: BOX BOUNDS xy xz yz {flags}\n")
        lines.append(f"{xlo + min(0, xy, xz, xy + xz):.10g} {xlo + lx + max(0, xy, xz, xy + xz):.10g} {xy:.10g}\n")
        lines.append(f"{ylo + min(0, yz):.10g} {ylo + ly + max(0, yz):.10g} {xz:.10g}\n")
        lines.append(f"{zlo:.10g} {zlo + lz:.10g} {yz:.10g}\n")
    label_cols = _label_columns(labels, "StructureType")
    if "type" in frame.properties:
        types = np.asarray(frame.properties["type"], dtype=np.int64)
    else:
        types = np.unique(frame.species, return_inverse=True)[1] + 1
    names = ["id", "type"]
    columns: list[tuple[np.ndarray, str]] = [(frame.ids, "%d"), (types, "%d")]
    if not all(s.isdigit() for s in np.unique(frame.species)):
        names.append("element")
        columns.append((frame.species, "%s"))
    names += ["x", "y", "z"]
    columns += [(positions[:, k], "%.8f") for k in range(3)]
    # OVITO's dump reader takes numeric columns only (besides `element`): the text label column
    # stays out of dumps and `StructureType` (OVITO's typed Structure Type) carries the label.
    label_cols = [c for c in label_cols if c[2] != "S"]
    skip = {"id", "type", "element", "x", "y", "z", "structure"} | _replaced_columns(frame, labels, label_cols)
    for name, values, kind in _property_columns(frame, skip, skip_text=True) + label_cols:
        names.append(name)
        columns.append((values, "%.6g" if name.startswith("prob_") else _FORMAT[kind]))
    lines.append(f"ITEM: ATOMS {' '.join(names)}\n")
    out.write("".join(lines).encode())
    _write_rows(out, columns)
