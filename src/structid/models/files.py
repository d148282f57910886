"""The file envelope shared by trained models: one file, a format name and a version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from structid.errors import InputError


def write_model(path: str | Path, data: bytes) -> Path:
    """Write a serialised model atomically (temporary file, then rename)."""
    from structid.io.writers import AtomicFile

    with AtomicFile(path, force=True) as out:
        out.write(data)
    return Path(path)


def read_model(path: str | Path, loader: Callable[[Path], Any], fmt: str, version: int,
               kind: str) -> dict:
    """Read a model file with ``loader`` and check its envelope; every problem is one clear
    :class:`InputError` (missing, unreadable, another format, another version)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    try:
        payload = loader(path)
    except Exception as exc:  # deserialisers raise many kinds on damaged files
        raise InputError(f"{path}: not a readable structid model ({type(exc).__name__}); "
                         "retrain it or re-download the package") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise InputError(f"{path}: not a {kind} model file")
    if payload.get("version") != version:
        raise InputError(f"{path}: {kind} file version {payload.get('version')}, this structid "
                         f"reads version {version}; retrain the model")
    return payload
