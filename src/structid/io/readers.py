"""Reading structure files: the fast LAMMPS dump reader, everything else through ASE.

:func:`open_trajectory` is the one entry point; it streams frames and never loads a whole
multi-frame file into memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.io.compression import strip_suffix, wrap
from structid.io.lammps_dump import LammpsDumpReader, map_types

_BY_SUFFIX = {
    ".dump": "lammps-dump", ".lammpstrj": "lammps-dump", ".lammpsdump": "lammps-dump",
    ".data": "lammps-data", ".lmp": "lammps-data",
    ".xyz": "extxyz", ".extxyz": "extxyz",
}
#: Formats with a streaming reader of structid's own; any other name is passed to ASE.
OWN_FORMATS = ("lammps-dump",)


def _stem_name(path: Path) -> str:
    return strip_suffix(path.name).lower()


def detect_format(path: str | os.PathLike) -> str:
    """The format name of a structure file, from its name, else from its content (ASE)."""
    path = Path(path)
    name = _stem_name(path)
    for suffix, fmt in _BY_SUFFIX.items():
        if name.endswith(suffix):
            return fmt
    if name.startswith("dump."):
        return "lammps-dump"
    from ase.io.formats import UnknownFileTypeError, filetype, ioformats

    try:
        fmt = filetype(str(path), read=True)
    except (UnknownFileTypeError, OSError, ValueError, IndexError):
        fmt = None
    if fmt == "lammps-dump-text":
        return "lammps-dump"
    if fmt not in ioformats:  # ASE falls back to the extension, known or not
        raise InputError(
            f"{path}: cannot tell the file format; pass --format (lammps-dump, extxyz, "
            "lammps-data, vasp, cif, ... any ASE format name)")
    return fmt


def check_format(fmt: str) -> str:
    """``fmt`` if structid or ASE can read it, else an :class:`InputError` listing examples."""
    from ase.io.formats import ioformats

    if fmt in OWN_FORMATS or (fmt in ioformats and ioformats[fmt].can_read):
        return fmt
    raise InputError(
        f"unknown input format {fmt!r}; use lammps-dump or an ASE format such as extxyz, "
        "lammps-data, vasp, cif")


class Trajectory:
    """The frames of a structure file, read one at a time.

    Args:
        path: the file.
        format: a format name (``lammps-dump`` or any ASE format); detected when None.
        types: LAMMPS type number -> species, for LAMMPS dumps and data files.
        wrap: move atoms into the periodic cell.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        format: str | None = None,
        types: dict[int, str] | None = None,
        wrap: bool = True,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory, not a structure file")
        self.format = check_format(format) if format else detect_format(self.path)
        self.types = types
        self.wrap = wrap
        self._dump = (
            LammpsDumpReader(self.path, types=types, wrap=wrap)
            if self.format == "lammps-dump" else None
        )

    @property
    def total_bytes(self) -> int | None:
        """File size when progress can be measured in bytes, else None."""
        return self._dump.total_bytes if self._dump is not None else None

    @property
    def bytes_read(self) -> int:
        return self._dump.bytes_read if self._dump is not None else 0

    def __iter__(self) -> Iterator[Frame]:
        if self._dump is not None:
            yield from self._dump
            return
        yield from self._iter_ase()

    def _iter_ase(self) -> Iterator[Frame]:
        import ase.io

        options = {}
        if self.format == "lammps-data":
            options["atom_style"] = "atomic"
        source = str(self.path)
        if self.format in ("extxyz", "xyz"):
            # ASE's xyz readers loop for ever on an atom count larger than the file
            source = _EndGuard(open_text(self.path), self.path)
        frames = ase.io.iread(source, index=":", format=self.format, **options)
        index = 0
        while True:
            try:
                atoms = next(frames)
            except StopIteration:
                return
            except InputError:
                raise
            except Exception as exc:  # ASE raises many types on malformed files
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(
                    f"{self.path}: cannot read frame {index} as {self.format} ({detail})") from None
            yield self._from_ase(atoms, index)
            index += 1

    def _from_ase(self, atoms, index: int) -> Frame:
        where = f"{self.path}, frame {index}"
        frame = Frame.from_ase(atoms, source=where)
        origin = frame.info.pop("Origin", None)
        if origin is not None:
            frame = frame.replace(origin=np.asarray(origin, dtype=float).reshape(3))
        if self.format == "lammps-data":
            # ASE keeps the positions but drops the box's lower corner (xlo ylo zlo)
            frame = frame.replace(origin=_lammps_data_origin(self.path))
        if "timestep" in frame.info:
            frame.info["timestep"] = _integer_info(frame.info["timestep"], "timestep", where)
        if "type" in frame.properties and self.format.startswith("lammps"):
            # ASE turns LAMMPS type n into element number n; use the type itself instead.
            types = np.asarray(frame.properties["type"], dtype=np.int64)
            frame = frame.replace(species=map_types(types, self.types, where))
        frame.info.setdefault("frame_index", index)
        return frame.wrapped() if self.wrap else frame


class _EndGuard:
    """A text file that raises :class:`InputError` when a reader keeps asking for lines after
    the end (a frame that declares more atoms than the file holds)."""

    _LIMIT = 1000

    def __init__(self, stream, path: Path) -> None:
        self._stream, self._path, self._empty = stream, path, 0

    def readline(self, *args) -> str:
        line = self._stream.readline(*args)
        if line:
            self._empty = 0
            return line
        self._empty += 1
        if self._empty > self._LIMIT:
            self._stream.close()
            raise InputError(f"{self._path}: a frame declares more atoms than the file holds; the file "
                             "looks truncated or its atom-count line is wrong")
        return line

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _integer_info(value, key: str, where: str) -> int:
    """A per-frame integer such as ``timestep=`` of an extxyz comment line."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    raise InputError(f"{where}: {key}={value if not isinstance(value, np.ndarray) else ''!s} is not an integer; "
                     f"fix or remove {key} in the comment line")


def _lammps_data_origin(path: Path) -> np.ndarray:
    """``xlo ylo zlo`` from the header of a LAMMPS data file (zeros when absent)."""
    origin = np.zeros(3)
    with open_text(path) as f:
        for k, line in enumerate(f):
            words = line.split("#")[0].split()
            if len(words) == 4 and words[2:] in (["xlo", "xhi"], ["ylo", "yhi"], ["zlo", "zhi"]):
                try:
                    origin["xyz".index(words[2][0])] = float(words[0])
                except ValueError:
                    raise InputError(f"{path}:{k + 1}: box bounds must be numbers") from None
            if words and words[0] in ("Atoms", "Masses", "Velocities") or k > 200:
                break
    return origin


def open_text(path: Path):
    """A text stream of a (possibly compressed) file."""
    return io.TextIOWrapper(wrap(open(path, "rb"), path.name, "rb"), encoding="utf-8", errors="replace")


def open_trajectory(
    path: str | os.PathLike,
    format: str | None = None,
    types: dict[int, str] | None = None,
    wrap: bool = True,
) -> Trajectory:
    """Open a structure file for frame-by-frame reading (see :class:`Trajectory`)."""
    return Trajectory(path, format=format, types=types, wrap=wrap)


def read_frame(
    path: str | os.PathLike,
    index: int = 0,
    format: str | None = None,
    types: dict[int, str] | None = None,
) -> Frame:
    """Read one frame (``index`` counts from 0) of a structure file."""
    for k, frame in enumerate(open_trajectory(path, format=format, types=types)):
        if k == index:
            return frame
    raise InputError(f"{path}: has no frame {index}")


def parse_types(text: str) -> dict[int, str]:
    """Parse a ``--types`` option such as ``"1=Cu,2=Zr"`` (elements checked against the periodic
    table)."""
    from ase.data import atomic_numbers

    mapping: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise InputError(f"--types: cannot read {part!r}; write TYPE=ELEMENT pairs like 1=Cu,2=Zr")
        element = value.strip()
        if element not in atomic_numbers:
            raise InputError(f"--types: {element!r} is not an element symbol (in {part!r})")
        mapping[int(key)] = element
    if not mapping:
        raise InputError("--types: empty mapping; write TYPE=ELEMENT pairs like 1=Cu,2=Zr")
    return mapping
