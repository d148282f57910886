"""Every public entry point takes any supported system: Frame, ase.Atoms, OVITO DataCollection,
(cell, positions[, species])."""

import numpy as np
import pytest

from structid.classical import PTM, to_ovito
from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.lattices import gaussian_noise, lattice
from structid.registry import get_classifier


@pytest.fixture
def frame(rng):
    f = gaussian_noise(lattice("cscl", 2.6, 3, species=("Cs", "Cl")), 0.05, rng)
    return f.replace(origin=np.array([1.0, -2.0, 0.5]))


def _same(a: Frame, b: Frame) -> None:
    assert np.allclose(a.positions, b.positions) and np.allclose(a.cell, b.cell)
    assert np.array_equal(a.pbc, b.pbc) and np.array_equal(a.species, b.species)


def test_ase_ovito_and_tuples_give_the_same_frame(frame):
    _same(as_frame(frame.to_ase()), frame)
    ovito_frame = as_frame(to_ovito(frame))
    assert np.allclose(ovito_frame.cell, frame.cell) and np.array_equal(ovito_frame.species, frame.species)
    assert np.allclose(ovito_frame.wrapped().positions, frame.wrapped().positions)
    assert np.allclose(ovito_frame.origin, frame.origin)
    _same(as_frame((frame.cell, frame.positions, frame.species)).replace(origin=frame.origin), frame)
    plain = as_frame((frame.cell, frame.positions))
    assert set(plain.species) == {"X"} and plain.pbc.all()
    cluster = as_frame((np.zeros((3, 3)), frame.positions))
    assert not cluster.pbc.any()
    assert as_frame(frame) is frame


@pytest.mark.parametrize("method", ["ptm", "acna", "nmcnn", "less"])
def test_every_method_takes_every_kind_of_system(frame, method):
    classifier = get_classifier(method)
    expected = classifier.classify(frame).codes
    for system in (frame.to_ase(), to_ovito(frame), (frame.cell, frame.positions, frame.species)):
        np.testing.assert_array_equal(classifier.classify(system).codes, expected, err_msg=type(system).__name__)


def test_unsupported_systems_get_a_clear_error(frame):
    with pytest.raises(InputError, match="cannot use a builtins.list as a system; give a structid Frame"):
        as_frame([frame.positions])
    with pytest.raises(InputError, match=r"`cell` .* must be a \(3, 3\) array, got shape \(3,\)"):
        as_frame((np.ones(3), frame.positions))
    with pytest.raises(InputError, match=r"`positions` .* must be an \(n, 3\) array, got shape \(5, 2\)"):
        as_frame((frame.cell, np.zeros((5, 2))))
    with pytest.raises(InputError, match="cannot use"):
        PTM().classify("dump.lammpstrj")
