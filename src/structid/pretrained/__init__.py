"""Pretrained models shipped inside the package, each with a model card (``<name>.md``).

Data only: the files, and :func:`resolve` to find them. The recipes that build them live in
:mod:`structid.training`.
"""

from __future__ import annotations

from pathlib import Path

from structid.errors import InputError

FOLDER = Path(__file__).parent
#: model files: torch state (NM-CNN, denoiser) and compressed pickled ensembles (LESS)
MODEL_SUFFIXES = (".pt", ".pkl")


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
    """A model file: ``model`` as given, or the shipped model of that name when no such file
    exists (``denoiser-dc3``), or the shipped ``default`` when ``model`` is None."""
    if model is None:
        return path(default)
    given = Path(model)
    if not given.exists() and given.suffix not in MODEL_SUFFIXES and given.name == str(model):
        if str(model) in shipped():
            return path(str(model))
    return given
