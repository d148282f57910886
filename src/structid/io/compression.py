"""Compressed files: the one table of suffixes structid reads and writes (gzip, bzip2, xz)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zlib
from typing import IO

#: suffix -> opener taking (raw binary file, mode)
_OPENERS = {
    ".gz": lambda raw, mode: gzip.GzipFile(fileobj=raw, mode=mode, **({"compresslevel": 4} if "w" in mode else {})),
    ".bz2": lambda raw, mode: bz2.BZ2File(raw, mode=mode),
    ".xz": lambda raw, mode: lzma.LZMAFile(raw, mode=mode),
    ".lzma": lambda raw, mode: lzma.LZMAFile(raw, mode=mode),
}
SUFFIXES: tuple[str, ...] = tuple(_OPENERS)
#: what a damaged compressed stream raises while it is read
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, lzma.LZMAError, zlib.error)


def strip_suffix(name: str) -> str:
    """``name`` without a compression suffix (``run.lammpstrj.gz`` -> ``run.lammpstrj``)."""
    lower = name.lower()
    for suffix in SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def wrap(raw: IO[bytes], name: str, mode: str) -> IO[bytes]:
    """``raw`` wrapped in the (de)compressor that ``name``'s suffix asks for, else ``raw``."""
    lower = name.lower()
    for suffix, opener in _OPENERS.items():
        if lower.endswith(suffix):
            return opener(raw, mode)
    return raw


def open_compressed(path: str | os.PathLike, mode: str = "rb") -> tuple[IO[bytes], IO[bytes]]:
    """Open a possibly compressed file; returns ``(stream, raw)`` where ``raw.tell()`` counts
    bytes of the file on disk (for progress bars)."""
    raw = open(path, mode)
    return wrap(raw, os.fspath(path), mode), raw
