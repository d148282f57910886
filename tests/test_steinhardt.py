import numpy as np
import pytest
from scipy.special import sph_harm_y

from conftest import random_triclinic_cell
from structid.descriptors.steinhardt import Steinhardt
from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import gaussian_noise, lattice, random_rotation
from structid.neighbors import neighbor_list

# q4, q6 of perfect lattices (first shell; bcc with its 8 + 6 neighbors)
KNOWN = {"fcc": (0.19094, 0.57452), "bcc": (0.03637, 0.51069), "hcp": (0.09722, 0.48476),
         "sc": (0.76376, 0.35355)}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_values_of_perfect_lattices(name):
    q = Steinhardt().compute(lattice(name, 2.5, 3))
    assert np.allclose(q[:, 1], KNOWN[name][0], atol=1e-4)
    assert np.allclose(q[:, 2], KNOWN[name][1], atol=1e-4)
    assert np.all(q[:, 6:] == 0)  # one species: no cross-species terms


def test_rotation_invariance(rng):
    frame = gaussian_noise(lattice("hcp", 2.5, 3), 0.1, rng)
    s = Steinhardt()
    assert np.allclose(s.compute(random_rotation(frame, rng)), s.compute(frame), atol=1e-9)


def literal_qlm(frame, i, l, r_cut, unlike=False):
    """(2l+1,) q_lm of atom i over its bonds shorter than r_cut (scipy's Y_lm), and the bonds."""
    nl = neighbor_list(frame, r_cut)
    sel = (nl.i == i) & (nl.distances < r_cut)
    if unlike:
        sel &= frame.species[nl.j] != frame.species[i]
    v = nl.vectors[sel]
    if len(v) == 0:
        return np.zeros(2 * l + 1), nl.j[sel]
    polar = np.arccos(v[:, 2] / np.linalg.norm(v, axis=1))
    azimuth = np.arctan2(v[:, 1], v[:, 0])
    return np.array([np.mean(sph_harm_y(l, m, polar, azimuth)) for m in range(-l, l + 1)]), nl.j[sel]


def norm(qlm, l):
    return np.sqrt(4 * np.pi / (2 * l + 1) * np.sum(np.abs(qlm) ** 2))


def literal_q(frame, i, l, r_cut, unlike=False):
    return norm(literal_qlm(frame, i, l, r_cut, unlike)[0], l)


def test_averaged_matches_a_literal_lechner_dellago_average(rng):
    cell = random_triclinic_cell(rng, 7.0)
    frame = Frame(positions=rng.random((25, 3)) @ cell, cell=cell, pbc=True, species=np.full(25, "Ar"))
    s = Steinhardt(averaged=True)
    q = s.compute(frame)
    assert q.shape == (25, 18)
    r_cut = s.cutoffs(frame)
    for i in (0, 13):
        for k, l in enumerate(s.ls):
            own, bonded = literal_qlm(frame, i, l, r_cut[i])
            total = own + sum(literal_qlm(frame, int(j), l, r_cut[j])[0] for j in bonded)
            assert q[i, 12 + k] == pytest.approx(norm(total / (1 + len(bonded)), l), abs=1e-9)


def test_averaged_equals_plain_on_a_perfect_lattice():
    q = Steinhardt(averaged=True).compute(lattice("bcc", 2.5, 3))
    assert np.allclose(q[:, 12:], q[:, :6])  # every atom has the same q_lm


def test_matches_a_literal_implementation_on_random_cells(rng):
    cell = random_triclinic_cell(rng, 8.0)
    frame = Frame(positions=rng.random((30, 3)) @ cell, cell=cell, pbc=True,
                  species=rng.choice(["Na", "Cl"], 30))
    s = Steinhardt()
    q = s.compute(frame)
    r_cut = s.cutoffs(frame)
    for i in (0, 11, 29):
        for k, l in enumerate(s.ls):
            assert q[i, k] == pytest.approx(literal_q(frame, i, l, r_cut[i]), abs=1e-9)
            assert q[i, 6 + k] == pytest.approx(literal_q(frame, i, l, r_cut[i], unlike=True), abs=1e-9)


def test_rocksalt_cross_species_equals_all_neighbors():
    q = Steinhardt().compute(lattice("rocksalt", 2.8, 2))
    assert np.allclose(q[:, :6], q[:, 6:])  # every first neighbor is of the other species


def test_isolated_atom_is_a_clear_error_and_sparse_frames_stay_finite(rng):
    # the cutoff holds at least the 4 nearest neighbours, so q_l is always defined ...
    frame = Frame(positions=rng.random((30, 3)) * 20.0, cell=np.eye(3) * 20.0, pbc=True,
                  species=np.full(30, "Cu"))
    assert np.isfinite(Steinhardt(averaged=True).compute(frame)).all()
    # ... and an atom far from all others is refused instead of given NaN features
    lone = np.vstack([lattice("fcc", 2.5, 2).positions, [[500.0, 500.0, 500.0]]])
    isolated = Frame(positions=lone, cell=np.eye(3) * 1000.0, pbc=False, species=np.full(len(lone), "Cu"))
    with pytest.raises(InputError, match="isolated|too sparse"):
        Steinhardt().compute(isolated)
