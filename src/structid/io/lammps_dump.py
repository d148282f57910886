"""LAMMPS text dumps: a streaming reader (one frame in memory at a time) and a writer.

Reads ``.dump`` / ``.lammpstrj`` files, plain or compressed (gzip, bz2, xz): orthogonal,
restricted triclinic (``xy xz yz``) and general triclinic (``abc origin``) boxes; ``x``, ``xu``,
``xs`` or ``xsu`` coordinates; any column order; every other column kept as a per-atom property.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from structid.errors import InputError
from structid.frame import Frame, completed_cell
from structid.io.compression import READ_ERRORS, open_compressed
from structid.io._textparse import BAD_COLUMNS, BAD_INTEGER, BAD_NUMBER, parse_rows

#: Coordinate column triples in order of preference, and whether they are fractional.
_COORDINATES = (("x", "y", "z", False), ("xu", "yu", "zu", False),
                ("xs", "ys", "zs", True), ("xsu", "ysu", "zsu", True))
_COORDINATE_NAMES = {name for triple in _COORDINATES for name in triple[:3]}
_INTEGER_COLUMNS = {"id", "type", "mol", "ix", "iy", "iz", "proc", "procp1", "structure_id", "StructureType",
                    "structure_type"}
_CHUNK = 1 << 24  # bytes read at a time while parsing atom lines


@dataclass(frozen=True)
class FrameStart:
    """Where a frame starts: its index, byte offset in the (decompressed) file, line number."""

    index: int
    offset: int
    line: int


class LammpsDumpReader:
    """Iterate over the frames of a LAMMPS text dump, one at a time.

    Args:
        path: the dump file (``.gz``, ``.bz2``, ``.xz`` are decompressed on the fly).
        types: maps LAMMPS type numbers to species (e.g. ``{1: "Cu", 2: "Zr"}``); every type in
            the file must then be mapped. Without it, an ``element`` column gives the species,
            else the type number (as text) does.
        wrap: move atoms into the periodic box (unwrapped ``xu``/``xsu`` dumps included).

    Frames carry ``info["timestep"]`` (and ``info["time"]`` when dumped).
    """

    def __init__(
        self, path: str | os.PathLike, types: dict[int, str] | None = None, wrap: bool = True
    ) -> None:
        self.path = Path(path)
        self.types = None if types is None else {int(k): str(v) for k, v in types.items()}
        self.wrap = wrap
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self.total_bytes = self.path.stat().st_size
        self._stream: IO[bytes] | None = None
        self._raw: IO[bytes] | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes of the file on disk consumed so far."""
        return 0 if self._raw is None or self._raw.closed else self._raw.tell()

    def __iter__(self) -> Iterator[Frame]:
        for _, frame in self.frames_with_offsets():
            yield frame

    def frames_with_offsets(self, start: FrameStart | None = None) -> Iterator[tuple[FrameStart, Frame]]:
        """Every frame (from ``start`` on) with where it starts in the file: a frame index lets
        another process read one frame with :meth:`read_at` without reading those before it."""
        self._stream, self._raw = open_compressed(self.path)
        self._buf = b""
        self._pos = 0
        self._buf_start = 0  # offset of _buf[0] in the (decompressed) stream
        self._line = 0  # number of the last line consumed (1-based)
        self._eof = False
        index = 0
        try:
            if start is not None:
                # a compressed stream seeks by decompressing up to the offset
                self._stream.seek(start.offset)
                self._buf_start, self._line, index = start.offset, start.line - 1, start.index
            while True:
                here = FrameStart(index, self._buf_start + self._pos, self._line + 1)
                frame = self._read_frame(index)
                if frame is None:
                    return
                yield here, frame
                index += 1
        except READ_ERRORS as exc:
            raise InputError(f"{self.path}: cannot read the file ({exc})") from None
        finally:
            self.close()

    def read_at(self, start: FrameStart) -> Frame:
        """The one frame that starts at ``start`` (from :meth:`frames_with_offsets`)."""
        for _, frame in self.frames_with_offsets(start):
            return frame
        raise InputError(f"{self.path}: no frame at byte {start.offset}; the file changed since it was indexed")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._raw.close()

    def __enter__(self) -> LammpsDumpReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- buffered access ---------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append the next chunk of the file to the buffer; False at end of file."""
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos:] + chunk
        self._buf_start += self._pos
        self._pos = 0
        return True

    def _readline(self) -> bytes | None:
        """The next line without its newline, or None at end of file."""
        while True:
            nl = self._buf.find(b"\n", self._pos)
            if nl >= 0:
                line = self._buf[self._pos:nl]
                self._pos = nl + 1
                self._line += 1
                return line
            if not self._fill():
                if self._pos < len(self._buf):
                    line = self._buf[self._pos:]
                    self._pos = len(self._buf)
                    self._line += 1
                    return line
                return None

    def _peekline(self) -> bytes | None:
        """The next line without consuming it."""
        while True:
            nl = self._buf.find(b"\n", self._pos)
            if nl >= 0:
                return self._buf[self._pos:nl]
            # _fill keeps the bytes from _pos on, so the line start stays at _pos.
            if not self._fill():
                return self._buf[self._pos:] if self._pos < len(self._buf) else None

    def _error(self, message: str, line: int | None = None) -> InputError:
        return InputError(f"{self.path}:{self._line if line is None else line}: {message}")

    def _value_line(self, what: str, count: int) -> list[bytes]:
        line = self._readline()
        if line is None:
            raise self._error(f"the file ends inside the {what} section; the dump looks truncated")
        fields = line.split()
        if len(fields) < count:
            raise self._error(f"expected {count} numbers for {what}, got {line.decode(errors='replace')!r}")
        return fields

    # -- frames --------------------------------------------------------------------------------

    def _read_frame(self, index: int) -> Frame | None:
        timestep = time = n_atoms = None
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        start_line = self._line + 1
        while True:
            line = self._readline()
            if line is None:
                if timestep is None and n_atoms is None and bounds is None:
                    return None
                raise self._error("the file ends before the ITEM: ATOMS section; the dump looks truncated")
            if not line.strip() and timestep is None and n_atoms is None:
                continue  # blank lines between frames
            if not line.startswith(b"ITEM:"):
                raise self._error(f"expected an 'ITEM:' line, got {line[:60].decode(errors='replace')!r}; is this a LAMMPS text dump?")
            item = line[5:].strip()
            try:
                if item == b"TIMESTEP":
                    timestep = int(self._value_line("TIMESTEP", 1)[0])
                elif item == b"TIME":
                    time = float(self._value_line("TIME", 1)[0])
                elif item == b"UNITS":
                    self._readline()
                elif item == b"NUMBER OF ATOMS":
                    n_atoms = int(self._value_line("NUMBER OF ATOMS", 1)[0])
                    if n_atoms < 0:
                        raise ValueError
                elif item.startswith(b"BOX BOUNDS"):
                    bounds = self._read_box(item.split()[2:])
                elif item.startswith(b"ATOMS"):
                    columns = [c.decode(errors="replace") for c in item.split()[1:]]
                    repeated = sorted({c for c in columns if columns.count(c) > 1})
                    if repeated:
                        raise self._error(f"ITEM: ATOMS names the column {repeated[0]!r} twice")
                    break
                else:
                    raise self._error(f"unsupported item {line.decode(errors='replace')!r}")
            except InputError:
                raise
            except ValueError:
                raise self._error("expected a number after the ITEM line") from None
        if n_atoms is None or bounds is None:
            missing = "NUMBER OF ATOMS" if n_atoms is None else "BOX BOUNDS"
            raise self._error(f"frame starting at line {start_line} has no ITEM: {missing}")
        cell, origin, pbc = bounds
        table, strings = self._read_atoms(columns, n_atoms)
        return self._make_frame(index, start_line, columns, table, strings, cell, origin, pbc,
                                timestep, time)

    def _read_box(self, words: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        words = [w.decode() for w in words]
        try:
            if words[:2] == ["abc", "origin"]:
                # General triclinic: one line per cell vector, its 3 components and one origin
                # component.
                rows = [np.array(self._value_line("BOX BOUNDS", 4)[:4], dtype=float) for _ in range(3)]
                cell = np.array([r[:3] for r in rows])
                origin = np.array([r[3] for r in rows])
                flags = words[2:]
            else:
                triclinic = words[:3] == ["xy", "xz", "yz"]
                flags = words[3:] if triclinic else words
                need = 3 if triclinic else 2
                _check_flags(flags, self._error)
                lines = [self._value_line("BOX BOUNDS", need) for _ in range(3)]
                if not triclinic and any(len(f) > 2 for f in lines):
                    raise self._error("a BOX BOUNDS line holds a tilt factor but the header has no "
                                      "'xy xz yz'; fix the ITEM: BOX BOUNDS line")
                rows = [np.array(f[:need], dtype=float) for f in lines]
                (xlo, xhi), (ylo, yhi), (zlo, zhi) = (r[:2] for r in rows)
                xy, xz, yz = (rows[0][2], rows[1][2], rows[2][2]) if triclinic else (0.0, 0.0, 0.0)
                # Dumps store the bounding box of the tilted cell; undo that (LAMMPS Howto_triclinic).
                xlo -= min(0.0, xy, xz, xy + xz)
                xhi -= max(0.0, xy, xz, xy + xz)
                ylo -= min(0.0, yz)
                yhi -= max(0.0, yz)
                cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]])
                origin = np.array([xlo, ylo, zlo])
                if np.any(np.diag(cell) < 0):
                    axis = "xyz"[int(np.flatnonzero(np.diag(cell) < 0)[0])]
                    raise self._error(f"BOX BOUNDS: {axis}hi is below {axis}lo (negative box length)")
        except InputError:
            raise
        except ValueError:
            raise self._error("BOX BOUNDS lines must hold numbers") from None
        if not np.all(np.isfinite(cell)) or not np.all(np.isfinite(origin)):
            raise self._error("BOX BOUNDS lines must hold finite numbers")
        pbc = np.array([f == "pp" for f in flags] if flags else [True] * 3)
        return cell, origin, pbc

    def _read_atoms(self, columns: list[str], n: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        ncols = len(columns)
        table = np.zeros((n, ncols))
        first = self._peekline() if n else None
        if n and first is None:
            raise self._error(f"the file ends before the {n} atom lines; the dump looks truncated", self._line + 1)
        string_cols = self._string_columns(columns, first) if n else []
        slot = np.full(ncols, -1, dtype=np.int64)
        slot[string_cols] = np.arange(len(string_cols))
        strings: dict[int, list[np.ndarray]] = {c: [] for c in string_cols}
        # columns LAMMPS writes as integers (id, type, image flags, ...) hold integers: `4.9`,
        # `nan` or `1e30` there is an error, not a silently changed id
        integer = np.array([name in _INTEGER_COLUMNS for name in columns], dtype=np.bool_)
        done = 0
        while done < n:
            buf = np.frombuffer(self._buf, dtype=np.uint8)
            room = n - done
            starts = np.zeros((room if string_cols else 0, max(len(string_cols), 1)), dtype=np.int64)
            lengths = np.zeros_like(starts)
            pos, rows, status, col = parse_rows(
                buf, self._pos, len(buf), self._eof, table, done, room, slot, starts, lengths, integer
            )
            for c in string_cols:
                text, bad = _gather_strings(buf, starts[:rows, slot[c]], lengths[:rows, slot[c]])
                if bad >= 0:
                    raise self._error(f"column {columns[c]!r} holds a non-ASCII byte; species and text "
                                      "columns must be plain ASCII", self._line + bad + 1)
                strings[c].append(text)
            # Count the lines consumed without decoding them.
            self._pos = pos
            self._line += rows
            done += rows
            if status == BAD_COLUMNS and (not _line_at(self._buf, pos).strip() or _line_at(self._buf, pos).startswith(b"ITEM:")):
                raise self._error(f"the frame ends after {done} of {n} atom lines; the dump looks truncated",
                                  self._line + 1)
            if status == BAD_COLUMNS and self._eof and self._buf.find(b"\n", pos) < 0:
                raise self._error(f"the file ends inside atom line {done + 1} of {n} ({_count_fields(self._buf, pos)} "
                                  f"of {ncols} fields); the dump looks truncated", self._line + 1)
            if status == BAD_COLUMNS:
                raise self._error(
                    f"atom line has {_count_fields(self._buf, pos)} fields, the ITEM: ATOMS header names "
                    f"{ncols} ({' '.join(columns)})", self._line + 1)
            if status == BAD_INTEGER:
                token = _field(self._buf, pos, col)
                raise self._error(f"column {columns[col]!r} holds {token!r}, not an integer below 2^53",
                                  self._line + 1)
            if status == BAD_NUMBER:
                token = _field(self._buf, pos, col)
                raise self._error(f"column {columns[col]!r} holds {token!r}, not a number", self._line + 1)
            if done < n and not self._fill():
                if self._pos >= len(self._buf):
                    raise self._error(
                        f"the file ends after {done} of {n} atom lines; the dump looks truncated")
        joined = {c: np.concatenate(parts) if parts else np.zeros(0, dtype=str) for c, parts in strings.items()}
        return table, joined

    @staticmethod
    def _string_columns(columns: list[str], first: bytes) -> list[int]:
        """Columns holding text: ``element`` always, others whose first value is not a number."""
        fields = first.split()
        out = []
        for c, name in enumerate(columns):
            if name == "element":
                out.append(c)
            elif c < len(fields):
                try:
                    float(fields[c])
                except ValueError:
                    if name in _INTEGER_COLUMNS or name in _COORDINATE_NAMES:
                        continue  # a bad number in a numeric column: reported with its line
                    out.append(c)
        return out

    def _make_frame(self, index, start_line, columns, table, strings, cell, origin, pbc,
                    timestep, time) -> Frame:
        where = f"{self.path}, frame {index} (line {start_line})"
        col = {name: k for k, name in enumerate(columns)}
        for xname, yname, zname, scaled in _COORDINATES:
            if all(name in col for name in (xname, yname, zname)):
                xyz = table[:, [col[xname], col[yname], col[zname]]]
                break
        else:
            raise InputError(f"{where}: no coordinate columns (x y z, xu yu zu, xs ys zs or xsu ysu zsu) "
                             f"in ITEM: ATOMS {' '.join(columns)}")
        used = {xname, yname, zname}
        if scaled:
            xyz = xyz @ completed_cell(cell) + origin
        n = len(table)
        ids = table[:, col["id"]].astype(np.int64) if "id" in col else np.arange(1, n + 1)
        species = self._species(where, table, strings, col)
        properties: dict[str, np.ndarray] = {}
        for name, k in col.items():
            if name in used or name == "id" or (name == "element" and (self.types is None or "type" not in col)):
                continue
            if k in strings:
                properties[name] = strings[k]
            elif name in _INTEGER_COLUMNS:
                properties[name] = table[:, k].astype(np.int64)
            else:
                properties[name] = table[:, k].copy()
        info = {"source": where, "timestep": timestep, "frame_index": index}
        if time is not None:
            info["time"] = time
        frame = Frame(positions=xyz, cell=cell, pbc=pbc, species=species, ids=ids, origin=origin,
                      properties=properties, info=info)
        return frame.wrapped() if self.wrap else frame

    def _species(self, where: str, table, strings, col) -> np.ndarray:
        if self.types is not None and "type" not in col:
            raise InputError(f"{where}: --types maps LAMMPS types, but the dump has no 'type' column; "
                             "leave --types out")
        if "type" in col and (self.types is not None or "element" not in col):
            return map_types(table[:, col["type"]].astype(np.int64), self.types, where)
        if "element" in col:
            return strings.get(col["element"], np.zeros(0, dtype=str))
        return np.full(len(table), "X")


#: LAMMPS boundary styles of one direction (low and high face): p periodic, f fixed, s and m
#: shrink-wrapped
_FLAG_LETTERS = set("pfsm")


def _check_flags(flags: list[str], error) -> None:
    """No flags (old dumps: periodic) or three words such as ``pp ff sm``."""
    if not flags:
        return
    if len(flags) != 3 or any(len(f) != 2 or not set(f) <= _FLAG_LETTERS for f in flags):
        raise error(f"ITEM: BOX BOUNDS flags {' '.join(flags)!r} are not three LAMMPS boundary "
                    "styles such as 'pp pp ff'")
    if any(("p" in f) and f != "pp" for f in flags):
        raise error(f"ITEM: BOX BOUNDS flags {' '.join(flags)!r}: a periodic direction is 'pp'")


def map_types(types: np.ndarray, mapping: dict[int, str] | None, where: str) -> np.ndarray:
    """Species of LAMMPS type numbers: ``mapping[type]``, or the number as text without one.
    A type missing from ``mapping`` is an error (a silently wrong element is worse)."""
    present, inverse = np.unique(types, return_inverse=True)
    if mapping is None:
        return present.astype(str)[inverse]
    missing = [int(t) for t in present if int(t) not in mapping]
    if missing:
        given = ",".join(f"{k}={v}" for k, v in sorted(mapping.items()))
        raise InputError(
            f"{where}: LAMMPS type {missing[0]} is not in --types {given}; add {missing[0]}=ELEMENT")
    return np.array([mapping[int(t)] for t in present])[inverse]


def _gather_strings(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, int]:
    """Strings at the given byte offsets of ``buf``, as a numpy str array (vectorized), and the
    first row holding a non-ASCII byte (-1: none)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=str), -1
    width = int(lengths.max())
    offsets = np.arange(width)
    index = np.minimum(starts[:, None] + offsets, len(buf) - 1)
    chars = np.where(offsets < lengths[:, None], buf[index], 0).astype(np.uint8)
    high = (chars >= 128).any(axis=1)
    if high.any():
        return np.zeros(0, dtype=str), int(np.flatnonzero(high)[0])
    return chars.view(f"S{width}").ravel().astype(str), -1


def _line_at(buf: bytes, pos: int) -> bytes:
    end = buf.find(b"\n", pos)
    return buf[pos:] if end < 0 else buf[pos:end]


def _count_fields(buf: bytes, pos: int) -> int:
    return len(_line_at(buf, pos).split())


def _field(buf: bytes, pos: int, col: int) -> str:
    fields = _line_at(buf, pos).split()
    return fields[col].decode(errors="replace") if col < len(fields) else ""
