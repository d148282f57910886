"""Pretrained models shipped inside the package, each with a model card (``<name>.md``).

Data only: the files, and :func:`resolve` to find them. The recipes that build them live in
:mod:`structid.training`.
"""

from __future__ import annotations

from pathlib import Path

from structid.errors import InputError

FOLDER = Path(__file__).parent
#: model files: one envelope read with torch's weights-only loader (structid.models.base)
MODEL_SUFFIXES = (".pt",)


def shipped() -> list[str]:
    """Names of the shipped models."""
    return sorted({p.stem for p in FOLDER.iterdir() if p.suffix in MODEL_SUFFIXES})


def path(name: str) -> Path:
    """The file of a shipped model, e.g. ``path("nmcnn-metals")``."""
    matches = sorted(p for p in FOLDER.glob(f"{name}.*") if p.suffix in MODEL_SUFFIXES)
    if not matches:
        raise InputError(f"no shipped model {name!r}; shipped: {', '.join(shipped()) or 'none'}")
    return matches[0]


def resolve(model: str | Path | None, default: str) -> Path:
    """A model file: the shipped ``default`` when ``model`` is None; the shipped model when
    ``model`` is a shipped name (``denoiser-dc3``), always from inside the package, never a
    same-named file of the current directory; otherwise the file ``model`` (write
    ``./denoiser-dc3`` for a local file of that name)."""
    if model is None:
        return path(default)
    if isinstance(model, str) and model in shipped():
        return path(model)
    return Path(model)
