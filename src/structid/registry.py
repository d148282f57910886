"""The registry of classifiers: every method the CLI and the benchmarks can run by name.

Entries are import paths so that ``import structid`` stays light; later methods join with
:func:`register`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from structid.errors import InputError
from structid.labels import Classifier

_METHODS: dict[str, tuple[str, str]] = {}


def register(name: str, target: str, description: str) -> None:
    """Register ``target`` ("module:ClassName", constructed with keyword options) as ``name``."""
    _METHODS[name] = (target, description)


def available() -> dict[str, str]:
    """Registered method names and their one-line descriptions."""
    return {name: description for name, (_, description) in _METHODS.items()}


def get_classifier(name: str, **options: Any) -> Classifier:
    """Construct the classifier registered as ``name`` with the given options."""
    try:
        target, _ = _METHODS[name]
    except KeyError:
        raise InputError(
            f"unknown method {name!r}; available: {', '.join(_METHODS)}"
        ) from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise InputError(f"method {name!r} does not take the option(s) {', '.join(unknown)}")
    return cls(**options)


register("acna", "structid.classical:AdaptiveCNA", "adaptive common neighbor analysis (OVITO)")
register("ptm", "structid.classical:PTM", "polyhedral template matching, all structures (OVITO)")
register("diamond", "structid.classical:IdentifyDiamond", "cubic/hexagonal diamond (OVITO)")
register("nmcnn", "structid.models.nmcnn:from_file",
         "Neighbors Map + CNN (shipped nmcnn-metals, or --model FILE)")
register("less", "structid.models.less:from_file",
         "LESS stacked ensemble on Steinhardt features (shipped less-8, or --model FILE)")
