"""Pretrained models shipped inside the package, each with a model card (``<name>.md``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from structid.errors import InputError

FOLDER = Path(__file__).parent
#: model files: torch state (NM-CNN, denoiser) and pickled scikit-learn ensembles (LESS)
MODEL_SUFFIXES = (".pt", ".pkl")


def path(name: str) -> Path:
    """The file of a shipped model, e.g. ``path("nmcnn-metals")``."""
    matches = sorted(p for p in FOLDER.glob(f"{name}.*") if p.suffix in MODEL_SUFFIXES)
    if not matches:
        known = sorted({p.stem for p in FOLDER.iterdir() if p.suffix in MODEL_SUFFIXES})
        raise InputError(f"no shipped model {name!r}; shipped: {', '.join(known) or 'none'}")
    return matches[0]


def resolve(model: str | Path | None, default: str) -> Path:
    """A model file: ``model`` as given, or the shipped model of that name when no such file
    exists (``denoiser-dc3``), or the shipped ``default`` when ``model`` is None."""
    if model is None:
        return path(default)
    given = Path(model)
    if not given.exists() and given.suffix not in MODEL_SUFFIXES and given.name == str(model):
        known = {p.stem for p in FOLDER.iterdir() if p.suffix in MODEL_SUFFIXES}
        if str(model) in known:
            return path(str(model))
    return given


def confusion_markdown(classes: Sequence[str], matrix) -> list[str]:
    """Markdown rows of a confusion matrix (rows: true, columns: predicted)."""
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(classes, matrix)]
