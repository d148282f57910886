"""Pretrained models shipped inside the package, each with a model card (``<name>.md``)."""

from __future__ import annotations

from pathlib import Path

from structid.errors import InputError

FOLDER = Path(__file__).parent


def path(name: str) -> Path:
    """The file of a shipped model, e.g. ``path("nmcnn-metals")``."""
    matches = sorted(FOLDER.glob(f"{name}.*t"))
    if not matches:
        known = sorted({p.stem for p in FOLDER.glob("*.pt")})
        raise InputError(f"no shipped model {name!r}; shipped: {', '.join(known) or 'none'}")
    return matches[0]
