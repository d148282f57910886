import numpy as np
import pytest

from conftest import random_triclinic_cell
from structid.descriptors.neighbors_map import NeighborsMap
from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import gaussian_noise, lattice, rotate, random_rotation_matrix


def reference_map(frame, i, r_cut, size=32, gamma=2.0, beta=3.0, weights=None):
    """The definition followed literally for one atom, with explicit periodic images."""
    w = np.ones(len(frame)) if weights is None else weights
    cell = frame.cell
    reach = 2
    images = []
    for a in range(-reach, reach + 1):
        for b in range(-reach, reach + 1):
            for c in range(-reach, reach + 1):
                shift = np.array([a, b, c]) @ cell
                for j in range(len(frame)):
                    if a == b == c == 0 and j == i:
                        continue
                    p = frame.positions[j] + shift
                    d = np.linalg.norm(p - frame.positions[i])
                    if d < r_cut:
                        images.append((d, j, p))
    images.sort(key=lambda t: t[0])
    ball = [(j, p) for _, j, p in images]
    centre = frame.positions[i]
    out = np.zeros((size, size))
    for n, (j, p) in enumerate(ball[:size]):
        out[0, n] = w[i] * w[j] / np.linalg.norm(p - centre) ** gamma
    for k in range(1, size):
        if k > len(ball):
            break
        jk, pk = ball[k - 1]
        others = [(np.linalg.norm(centre - pk), i)] + [
            (np.linalg.norm(p - pk), j) for idx, (j, p) in enumerate(ball) if idx != k - 1]
        others.sort(key=lambda t: t[0])
        alpha = np.linalg.norm(pk - centre) ** (-1.0 / beta)
        for n, (d, m) in enumerate(others[:size]):
            out[k, n] = alpha * w[jk] * w[m] / d ** gamma
    return out


def test_matches_literal_definition_on_random_cells(rng):
    for _ in range(3):
        cell = random_triclinic_cell(rng, 9.0)
        frame = Frame(positions=rng.random((40, 3)) @ cell, cell=cell, pbc=True,
                      species=rng.choice(["Cu", "Zr"], 40))
        nm = NeighborsMap(size=12, r_cut=4.0, channel_weights=[{"Cu": 1.0, "Zr": -1.0}])
        maps = nm.compute(frame)
        w = np.where(frame.species == "Cu", 1.0, -1.0)
        for i in (0, 7, 23):
            expected0 = reference_map(frame, i, 4.0, size=12)
            expected1 = reference_map(frame, i, 4.0, size=12, weights=w)
            # ties between equal distances may order equal pixels differently: compare values
            assert np.allclose(maps[i, 0], expected0, rtol=1e-5)
            assert np.allclose(maps[i, 1], expected1, rtol=1e-5)


def test_other_gamma_and_beta_match_literal_definition(rng):
    # gamma = 2 has its own fast path; other exponents take the general one
    cell = random_triclinic_cell(rng, 8.0)
    frame = Frame(positions=rng.random((30, 3)) @ cell, cell=cell, pbc=True, species=["Cu"] * 30)
    maps = NeighborsMap(size=10, r_cut=4.0, gamma=1.5, beta=2.0).compute(frame)
    for i in (0, 11, 29):
        assert np.allclose(maps[i, 0], reference_map(frame, i, 4.0, size=10, gamma=1.5, beta=2.0), rtol=1e-5)


def test_invariant_to_rotation_translation_and_order(rng):
    frame = gaussian_noise(lattice("bcc", 2.5, 4), 0.1, rng)
    nm = NeighborsMap(r_cut=5.0)
    base = nm.compute(frame)
    rotated = rotate(frame, random_rotation_matrix(rng))
    assert np.allclose(nm.compute(rotated), base, rtol=1e-5, atol=1e-7)
    moved = frame.replace(positions=frame.positions + [1.3, -0.7, 2.9]).wrapped()
    assert np.allclose(nm.compute(moved), base, rtol=1e-5, atol=1e-7)
    order = rng.permutation(len(frame))
    assert np.allclose(nm.compute(frame.select(order)), base[order], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,first_shell", [("fcc", 12), ("bcc", 8), ("hcp", 12), ("sc", 6)])
def test_ideal_lattices_have_bands(name, first_shell):
    d = 2.5
    maps = NeighborsMap().compute(lattice(name, d, 5))
    # every atom of a perfect lattice has the same map, up to the order of rows of equidistant
    # neighbors (hcp's 12 neighbors form two orbits, so ties decide which row comes first; and
    # which atoms of a shell cut by the 31-row limit get rows is a tie too: compare first shells)
    rows = np.round(maps[:, 0, 1:first_shell + 1], 6)
    canonical = np.array([r[np.lexsort(r.T[::-1])] for r in rows])
    assert np.allclose(canonical, canonical[0], atol=1e-6)
    assert np.allclose(maps[:, 0, 0], maps[0, 0, 0], atol=1e-7)
    row0 = maps[0, 0, 0]
    assert np.allclose(row0[:first_shell], d ** -2)
    assert row0[first_shell] < d ** -2 - 1e-3
    # row k is weighted by alpha_k = d^(-1/3); its first entry is the centre or another neighbor at d
    assert maps[0, 0, 1, 0] == pytest.approx(d ** (-1 / 3) * d ** -2, rel=1e-5)
    assert np.all(np.diff(maps[0, 0, 0]) <= 1e-7)  # sorted by distance


def test_species_channels_differ_only_where_species_differ():
    frame = lattice("rocksalt", 2.8, 3)
    nm = NeighborsMap(channel_weights=[{"Na": 1.0, "Cl": -1.0}])
    maps = nm.compute(frame)
    geometric, chemical = maps[:, 0], maps[:, 1]
    # |weights| = 1, so the chemical channel has the geometric magnitudes with signs
    assert np.allclose(np.abs(chemical), geometric)
    # first shell of rocksalt: unlike species -> negative products
    assert np.all(chemical[:, 0, :6] < 0)
    # pure frames: chemical channel = +/- geometric everywhere
    pure = NeighborsMap(channel_weights=[{"Cu": 1.0}]).compute(lattice("fcc", 2.5, 3, species="Cu"))
    assert np.allclose(pure[:, 0], pure[:, 1])


def test_missing_species_weight_is_a_clear_error():
    nm = NeighborsMap(channel_weights=[{"Cu": 1.0}])
    with pytest.raises(InputError, match="species Zr has no weight in map channel 1"):
        nm.compute(lattice("cscl", 2.5, 2, species=("Cu", "Zr")))


def test_auto_rcut_fills_the_map_and_auto_scale_makes_maps_size_free():
    a = NeighborsMap(scale="auto").compute(lattice("fcc", 2.5, 4))
    b = NeighborsMap(scale="auto").compute(lattice("fcc", 3.1, 4))
    assert np.count_nonzero(a[0, 0]) == 32 * 32
    assert np.allclose(a, b, rtol=1e-5)


def test_chunks_equal_whole(rng):
    frame = gaussian_noise(lattice("hcp", 2.5, 4), 0.1, rng)
    nm = NeighborsMap()
    whole = nm.compute(frame)
    parts = np.concatenate([m for _, m in nm.iter_chunks(frame, chunk=37)])
    assert np.array_equal(whole, parts)
    # a reused buffer is cleared between blocks: balls of fewer than N atoms (a short r_cut
    # on a frame with vacancies) leave zero pixels that must not keep an earlier atom's values
    sparse = frame.select(np.sort(rng.choice(len(frame), len(frame) * 2 // 3, replace=False)))
    small = NeighborsMap(r_cut=4.0)
    whole = small.compute(sparse)
    assert (whole == 0).any()
    reused = [(atoms, m.copy()) for atoms, m in small.iter_chunks(sparse, chunk=20, reuse=True)]
    assert np.array_equal(np.concatenate([m for _, m in reused]), whole)
    assert np.array_equal(np.concatenate([a for a, _ in reused]), np.arange(len(sparse)))


def test_nmap_cli_renders_png(tmp_path):
    from conftest import run_cli
    from structid.io.writers import write_frames

    source = write_frames(tmp_path / "cscl.extxyz", lattice("cscl", 2.5, 3))
    result = run_cli("nmap", source, "--atoms", "0,1", "--channels", "Cs=1,Cl=-1", "-o", tmp_path / "m.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    bad = run_cli("nmap", source, "--atoms", "999", "-o", tmp_path / "n.png")
    assert bad.returncode == 2 and "--atoms: indices must be between 0 and 53" in bad.stderr
