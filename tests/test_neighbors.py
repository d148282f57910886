import itertools

import numpy as np
import pytest

from conftest import random_triclinic_cell
from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import lattice
from structid.neighbors import nearest_neighbors, neighbor_list


def brute_force_pairs(frame: Frame, cutoff: float) -> dict:
    """Every (i, j, shift) -> distance within the cutoff, by enumerating images."""
    cell = frame.cell
    heights = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)
    reach = [int(np.ceil(cutoff / h)) + 1 if p else 0 for h, p in zip(heights, frame.pbc)]
    pairs = {}
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        offset = np.array(shift) @ cell
        d = np.linalg.norm(frame.positions[None, :, :] + offset - frame.positions[:, None, :], axis=2)
        for i, j in zip(*np.nonzero(d < cutoff)):
            if i == j and not any(shift):
                continue
            pairs[(int(i), int(j), shift)] = d[i, j]
    return pairs


@pytest.mark.parametrize("n_atoms,scale,cutoff,pbc", [
    (20, 8.0, 3.5, (True, True, True)),
    (5, 3.0, 4.0, (True, True, True)),     # cell smaller than twice the cutoff
    (3, 2.0, 5.0, (True, True, True)),     # cell smaller than the cutoff
    (15, 6.0, 4.0, (True, False, True)),   # mixed periodicity
])
def test_neighbor_list_matches_brute_force(rng, n_atoms, scale, cutoff, pbc):
    for _ in range(3):
        cell = random_triclinic_cell(rng, scale)
        pos = rng.random((n_atoms, 3)) @ cell
        frame = Frame(positions=pos, cell=cell, pbc=pbc, species="X")
        nl = neighbor_list(frame, cutoff)
        expected = brute_force_pairs(frame, cutoff)
        got = {(int(i), int(j), tuple(int(s) for s in sh)): d
               for i, j, sh, d in zip(nl.i, nl.j, nl.shifts, nl.distances)}
        assert got.keys() == expected.keys(), f"cell={cell.tolist()}"
        assert np.allclose([got[k] for k in expected], list(expected.values()))
        # vectors point from i to the image of j
        vec = pos[nl.j] + nl.shifts @ cell - pos[nl.i]
        assert np.allclose(vec, nl.vectors)
        # CSR layout: sorted by atom, nearest first
        assert np.all(np.diff(nl.i) >= 0)
        for a in range(n_atoms):
            d = nl.distances[nl.offsets[a]:nl.offsets[a + 1]]
            assert np.all(np.diff(d) >= 0)


def test_k_nearest_matches_brute_force(rng):
    cell = random_triclinic_cell(rng, 6.0)
    frame = Frame(positions=rng.random((30, 3)) @ cell, cell=cell, pbc=True, species="X")
    knn = nearest_neighbors(frame, 14)
    pairs = brute_force_pairs(frame, 12.0)
    for a in range(len(frame)):
        d = sorted(v for (i, _, _), v in pairs.items() if i == a)[:14]
        assert np.allclose(knn.distances[a], d)
    assert np.allclose(np.linalg.norm(knn.vectors, axis=2), knn.distances)


@pytest.mark.parametrize("name,shells", [("fcc", [12]), ("bcc", [8, 6]), ("sc", [6]), ("cd", [4])])
def test_k_nearest_on_lattices(name, shells):
    f = lattice(name, 2.5, 3)
    k = sum(shells)
    d = nearest_neighbors(f, k).distances
    assert np.allclose(d[:, 0], 2.5)
    assert np.allclose(d[:, shells[0] - 1], 2.5)


def test_k_nearest_in_a_one_atom_cell():
    f = lattice("sc", 2.0, 1)
    d = nearest_neighbors(f, 26).distances[0]
    assert np.allclose(d[:6], 2.0) and np.allclose(d[6:18], 2.0 * np.sqrt(2)) and np.allclose(d[18:], 2.0 * np.sqrt(3))


def test_too_few_atoms_for_k_neighbors_in_a_cluster():
    f = Frame(positions=np.random.default_rng(1).random((5, 3)), cell=np.zeros((3, 3)), pbc=False, species="X")
    with pytest.raises(InputError, match="5 atoms .* 12 neighbors"):
        nearest_neighbors(f, 12)


def test_isolated_atom_gives_clear_error():
    pos = np.vstack([lattice("fcc", 2.5, 3).positions, [[500.0, 500.0, 500.0]]])
    f = Frame(positions=pos, cell=np.zeros((3, 3)), pbc=False, species="X")
    with pytest.raises(InputError, match="isolated"):
        nearest_neighbors(f, 12)


def _pairs(nl):
    return sorted(zip(nl.i.tolist(), nl.j.tolist(), map(tuple, nl.shifts.tolist())))


def test_within_equals_a_fresh_search_at_the_smaller_cutoff(rng):
    cell = random_triclinic_cell(rng, 9.0)
    frame = Frame(positions=rng.random((30, 3)) @ cell, cell=cell, pbc=True, species=np.full(30, "Cu"))
    wide, narrow = neighbor_list(frame, 4.0), neighbor_list(frame, 3.0)
    cut = wide.within(3.0)
    assert _pairs(cut) == _pairs(narrow) and cut.cutoff == 3.0
    np.testing.assert_array_equal(cut.offsets, narrow.offsets)
    with pytest.raises(InputError, match="cannot give pairs"):
        narrow.within(4.0)


def test_nearest_of_a_list_equals_nearest_neighbors(rng):
    frame = lattice("hcp", 2.9, 3)
    frame = frame.replace(positions=frame.positions + rng.normal(0, 0.1, frame.positions.shape))
    from_list = neighbor_list(frame, 2.9 * 1.6).nearest(12)
    direct = nearest_neighbors(frame, 12)
    np.testing.assert_allclose(from_list.distances, direct.distances)
    assert neighbor_list(frame, 2.0).nearest(12) is None  # too short a list says so


def test_resolve_takes_a_list_a_query_or_nothing(rng):
    from structid.neighbors import resolve

    frame = lattice("fcc", 2.5, 3)
    given = neighbor_list(frame, 4.0)
    assert resolve(frame, None) is None
    assert resolve(frame, given) is given
    assert _pairs(resolve(frame, given, r_max=3.0)) == _pairs(neighbor_list(frame, 3.0))
    assert resolve(frame, given, r_max=5.0).cutoff == 5.0  # too short: a fresh search
    assert _pairs(resolve(frame, {"r_max": 3.0})) == _pairs(neighbor_list(frame, 3.0))
    k12 = resolve(frame, {"num_neighbors": 12})
    assert k12.counts().min() >= 12
    for bad in ({"r_max": 3.0, "num_neighbors": 4}, {"k": 4}, {"num_neighbors": 0}):
        with pytest.raises(InputError):
            resolve(frame, bad)
    with pytest.raises(InputError, match="holds 108 atoms, the frame 4"):
        resolve(frame.select([0, 1, 2, 3]), given)
    with pytest.raises(InputError, match="must be a NeighborList"):
        resolve(frame, 3.0)


@pytest.mark.parametrize("name", ["fcc", "bcc", "hcp", "cd", "sc", "rocksalt"])
def test_nn_distance_of_lattices_and_of_a_given_list(name):
    from structid.neighbors import nn_distance

    frame = lattice(name, 2.7, 3)
    assert nn_distance(frame) == pytest.approx(2.7)
    assert nn_distance(frame, 4) == pytest.approx(2.7)
    assert nn_distance(frame, 4, neighbors=neighbor_list(frame, 4.0)) == pytest.approx(2.7)
    with pytest.raises(InputError, match="cannot be estimated"):
        nn_distance(frame.select([0]))


def test_pair_list_is_the_neighbor_list_without_vectors(rng):
    from structid.neighbors import pair_list

    cell = random_triclinic_cell(rng, 8.0)
    frame = Frame(positions=rng.random((120, 3)) @ cell, cell=cell, pbc=np.array([True, True, False]),
                  species=np.full(120, "Cu"))
    full = neighbor_list(frame, 3.1)
    j, shifts, offsets = pair_list(frame, 3.1)
    assert j.dtype == shifts.dtype == np.int32
    assert np.array_equal(j, full.j) and np.array_equal(shifts, full.shifts)
    assert np.array_equal(offsets, full.offsets)
