"""Thermodynamic output of an MD run, to put a temperature or an energy on each frame of a dump.

:func:`read_lammps_log` reads the thermo tables of a LAMMPS log (every ``Step ...`` header and
the rows of numbers under it, across any number of ``run`` commands). Frames are matched to rows
by timestep; a dump step the log does not have is an error, never a guess.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.errors import InputError

#: names users write for the common thermo quantities -> LAMMPS's thermo column names
ALIASES: dict[str, str] = {"t": "Temp", "temp": "Temp", "temperature": "Temp",
                           "pe": "PotEng", "poteng": "PotEng", "energy": "PotEng",
                           "etotal": "TotEng", "toteng": "TotEng", "ke": "KinEng", "kineng": "KinEng",
                           "p": "Press", "press": "Press", "pressure": "Press",
                           "vol": "Volume", "volume": "Volume", "step": "Step"}
#: units of the common columns (LAMMPS metal units), for labels and messages
UNITS: dict[str, str] = {"Temp": "K", "PotEng": "eV", "TotEng": "eV", "KinEng": "eV", "Press": "bar",
                         "Volume": "Å³"}


def canonical(name: str) -> str:
    """The LAMMPS column name of a quantity a user wrote (``T`` -> ``Temp``, ``pe`` -> ``PotEng``)."""
    return ALIASES.get(name.lower(), name)


@dataclass(frozen=True)
class Thermo:
    """Thermo rows by timestep: ``steps`` (n,) sorted and unique, ``columns`` name -> (n,) values
    (NaN where a run's table lacked that column), read from ``source``."""

    steps: np.ndarray
    columns: dict[str, np.ndarray]
    source: str

    def has(self, name: str) -> bool:
        """Whether the log has a column for ``name`` (aliases and case allowed)."""
        return self._column(name) is not None

    def _column(self, name: str) -> str | None:
        want = canonical(name)
        for column in self.columns:
            if column == want or column.lower() == want.lower():
                return column
        return None

    def value(self, name: str, step: int, where: str = "") -> float:
        """The value of ``name`` at timestep ``step``; a clear error when the log has no row or
        no such column."""
        column = self._column(name)
        if column is None:
            raise InputError(f"{self.source}: no thermo column {name!r} (columns: {', '.join(self.columns)}); "
                             "add it to thermo_style")
        k = int(np.searchsorted(self.steps, step))
        if k == len(self.steps) or self.steps[k] != step:
            raise InputError(f"{self.source}: no thermo row at timestep {step}{' of ' + where if where else ''} "
                             f"(its rows run from step {self.steps[0]} to {self.steps[-1]}); give the log of "
                             "the run that wrote the dump, with thermo output at every dump step")
        value = float(self.columns[column][k])
        if not np.isfinite(value):
            raise InputError(f"{self.source}: column {column} has no value at timestep {step}")
        return value


def read_lammps_log(path: str | os.PathLike) -> Thermo:
    """The thermo tables of a LAMMPS log file (``thermo_style`` one-line or custom output).

    Rows of later runs replace rows of the same step from earlier ones (each ``run`` repeats its
    first step). Raises :class:`InputError` when the file holds no thermo table.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the log ({exc.strerror or exc})") from None
    rows: dict[int, dict[str, float]] = {}
    names: list[str] = []
    header: list[str] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if words and words[0] == "Step":
            header = words
            names += [w for w in words if w not in names]
            continue
        if header is None:
            continue
        if len(words) != len(header):
            header = None  # "Loop time of ...", warnings: the table ended
            continue
        try:
            values = [float(w) for w in words]
        except ValueError:
            header = None
            continue
        step = values[0]
        if step != int(step):
            raise InputError(f"{path}, line {number}: step {words[0]} is not a whole number")
        rows[int(step)] = dict(zip(header, values))
    if not rows:
        raise InputError(f"{path}: no thermo table (a 'Step ...' header and rows of numbers) in this "
                         "file; is it the LAMMPS log of the run?")
    steps = np.array(sorted(rows), dtype=np.int64)
    columns = {name: np.array([rows[s].get(name, np.nan) for s in steps]) for name in names if name != "Step"}
    return Thermo(steps, columns, str(path))
