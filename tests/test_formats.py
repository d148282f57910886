"""Formats read through ASE: each gives the same frame back."""

import ase.io
import numpy as np
import pytest

from structid.io.readers import detect_format, read_frame
from structid.lattices import lattice


@pytest.mark.parametrize("name,fmt,options", [
    ("POSCAR", "vasp", {}),
    ("cell.cif", "cif", {}),
    ("conf.extxyz", "extxyz", {}),
    ("conf.data", "lammps-data", {"atom_style": "atomic", "specorder": ["Na", "Cl"]}),
])
def test_ase_formats(tmp_path, name, fmt, options):
    frame = lattice("rocksalt", 2.8, 2)
    path = tmp_path / name
    ase.io.write(path, frame.to_ase(), format=fmt, **options)
    assert detect_format(path) == fmt
    types = {1: "Na", 2: "Cl"} if fmt == "lammps-data" else None
    back = read_frame(path, types=types)
    assert len(back) == len(frame)
    assert np.allclose(back.cell, frame.cell, atol=1e-6)
    order = np.lexsort(np.round(back.positions, 4).T)
    ref = np.lexsort(np.round(frame.positions, 4).T)
    assert np.allclose(back.positions[order], frame.positions[ref], atol=1e-5)
    assert np.array_equal(back.species[order], frame.species[ref])


def test_lammps_data_without_types_keeps_type_numbers(tmp_path):
    path = tmp_path / "conf.lmp"
    ase.io.write(path, lattice("cscl", 2.5, 2).to_ase(), format="lammps-data", specorder=["Cs", "Cl"])
    assert set(read_frame(path).species) == {"1", "2"}  # never silently H and He
