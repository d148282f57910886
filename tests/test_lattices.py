import numpy as np
import pytest

from structid.errors import InputError
from structid.lattices import (FOREIGN_LATTICES, LATTICES, gaussian_noise, lattice, random_rotation, remove_atoms,
                               strain, uniform_noise)
from structid.neighbors import nearest_neighbors, neighbor_list

# first-shell coordination of each lattice (atoms at exactly the nn distance)
COORDINATION = {"fcc": 12, "bcc": 8, "hcp": 12, "sc": 6, "cd": 4, "hd": 4, "rocksalt": 6,
                "cscl": 8, "graphite": 3, "fluorite": None}


@pytest.mark.parametrize("name", sorted(LATTICES))
def test_nearest_neighbor_distance_and_coordination(name):
    f = lattice(name, nn_distance=2.3, repeat=3)
    nl = neighbor_list(f, 2.3 * 1.01)
    assert nl.distances.min() == pytest.approx(2.3)
    counts = nl.counts()
    if name == "fluorite":
        # Ca has 8 F neighbors, F has 4 Ca neighbors
        assert set(counts[f.species == "Ca"]) == {8} and set(counts[f.species == "F"]) == {4}
    else:
        assert set(counts) == {COORDINATION[name]}
    assert f.info["label"] == name


@pytest.mark.parametrize("name", ["rocksalt", "cscl"])
def test_binary_lattices_alternate(name):
    f = lattice(name, 2.0, 2)
    nl = neighbor_list(f, 2.01)
    assert np.all(f.species[nl.i] != f.species[nl.j])


def test_repeat_and_species():
    f = lattice("fcc", 2.5, (2, 3, 4), species="Al")
    assert len(f) == 4 * 24 and set(f.species) == {"Al"}
    with pytest.raises(InputError, match="unknown lattice"):
        lattice("fcx")
    with pytest.raises(InputError, match="sublattice"):
        lattice("rocksalt", species="Na")


def test_gaussian_noise_has_requested_sigma(rng):
    f = lattice("fcc", 2.5, 6)
    g = gaussian_noise(f, 0.1, rng)
    delta = g.positions - f.positions
    delta -= np.round(delta @ np.linalg.inv(f.cell)) @ f.cell  # undo wrapping
    assert np.std(delta) == pytest.approx(0.1, rel=0.05)


def test_uniform_noise_stays_in_ball(rng):
    f = lattice("bcc", 2.5, 5)
    g = uniform_noise(f, 0.3, rng)
    delta = g.positions - f.positions
    delta -= np.round(delta @ np.linalg.inv(f.cell)) @ f.cell
    r = np.linalg.norm(delta, axis=1)
    assert r.max() <= 0.3 + 1e-12
    # uniform in volume: median radius = 0.3 * 0.5^(1/3)
    assert np.median(r) == pytest.approx(0.3 * 0.5 ** (1 / 3), rel=0.05)


def test_remove_atoms_keeps_ids_of_the_rest(rng):
    f = lattice("fcc", 2.5, 5)
    g = remove_atoms(f, 0.5, rng)
    assert len(g) == len(f) // 2
    assert set(g.ids) <= set(f.ids) and len(set(g.ids)) == len(g)
    assert np.allclose(f.positions[g.ids - 1], g.positions)


def test_rotation_preserves_neighborhoods(rng):
    f = lattice("hcp", 2.5, 3)
    g = random_rotation(f, rng)
    assert not np.allclose(g.cell, f.cell)
    assert np.allclose(nearest_neighbors(g, 12).distances, nearest_neighbors(f, 12).distances)


def test_strain_scales_distances_and_volume():
    f = lattice("sc", 2.0, 3)
    g = strain(f, 0.01)
    assert g.volume == pytest.approx(f.volume * 1.01**3)
    assert nearest_neighbors(g, 1).distances.min() == pytest.approx(2.02)
    h = strain(f, [0.02, 0.0, 0.0])
    assert np.allclose(np.diag(h.cell), [6.12, 6.0, 6.0])


@pytest.mark.parametrize("name", sorted(LATTICES))
def test_atoms_lie_inside_the_cell(name):
    f = lattice(name, 2.5, 2)
    s = f.scaled_positions()
    assert np.all((s >= -1e-12) & (s < 1 - 1e-12))


# atoms per conventional cell, and the coordination within 1.15 nn of each species (a set when
# a species sits on inequivalent sites): crystallographic facts of each structure
FOREIGN = {"a15": (8, {"W": {6, 12}}), "beta-sn": (4, {"Sn": {6}}), "alpha-u": (4, {"U": {4}}),
           "cristobalite": (24, {"Si": {4}, "O": {2}}), "quartz": (9, {"Si": {4}, "O": {2}})}


@pytest.mark.parametrize("name", sorted(FOREIGN_LATTICES))
def test_foreign_lattices_have_their_crystallographic_shells(name):
    f = lattice(name, nn_distance=2.0, repeat=3)
    per_cell, shells = FOREIGN[name]
    assert len(f) == 27 * per_cell
    nl = neighbor_list(f, 2.0 * 1.15)
    assert nl.distances.min() == pytest.approx(2.0)
    counts = nl.counts()
    assert {s: set(counts[f.species == s].tolist()) for s in shells} == shells
    # no vocabulary class fits, so the truth is "unknown"
    assert f.info["label"] == "unknown"
