"""Spatial tiles with halo atoms: every atom owned once, and local methods give a tile's own
atoms the labels of the whole frame."""

from __future__ import annotations

import numpy as np
import pytest

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import lattice
from structid.models.compose import Tiled
from structid.neighbors import neighbor_list
from structid.registry import build_pipeline
from structid.tiles import Tiling, density_length


def _noisy(name: str, a: float, reps: tuple[int, int, int], sigma: float, rng) -> Frame:
    frame = lattice(name, a, reps)
    # some atoms outside the cell, as in a dump: tiles must place them by their wrapped image
    return frame.replace(positions=frame.positions + rng.normal(0, sigma, frame.positions.shape))


def test_every_atom_is_owned_by_one_tile_and_halo_atoms_are_near(rng):
    frame = _noisy("hcp", 2.9, (12, 7, 8), 0.2, rng)
    tiling = Tiling(frame, 600, halo=5.0)
    whole = neighbor_list(frame, 5.0)
    assert len(tiling) > 1
    owners = np.zeros(len(frame), int)
    for tile in tiling.tiles():
        owners[tile.owned] += 1
        sub = tile.frame(frame)
        assert not sub.pbc[tile.cut].any() and (sub.pbc[~tile.cut] == frame.pbc[~tile.cut]).all()
        # every owned atom has in its tile the neighbours within the halo it has in the frame
        within = neighbor_list(sub, 5.0)
        assert np.array_equal(within.counts()[: tile.n_owned], whole.counts()[tile.owned])
        assert len(sub) < len(frame)
    assert (owners == 1).all()


@pytest.mark.parametrize("case", ["hcp", "slab", "cluster"])
def test_tiled_classical_methods_equal_the_whole_frame(case, rng):
    frame = _noisy("hcp", 2.9, (20, 11, 12), 0.15, rng)
    if case == "slab":
        frame = frame.replace(pbc=np.array([True, True, False]))
    if case == "cluster":
        frame = frame.replace(pbc=np.zeros(3, bool), cell=np.zeros((3, 3)))
    for name in ("ptm", "acna", "diamond"):
        classifier = build_pipeline(name)
        whole = classifier.classify(frame)
        tiled = Tiled(classifier, 4000).classify(frame)
        assert np.array_equal(tiled.codes, whole.codes), name
        if name != "diamond":  # mostly hcp, so that a wrong neighbourhood shows
            assert (whole.codes == 2).mean() > 0.5
        for key, values in whole.extra.items():
            assert np.array_equal(tiled.extra[key], values)


def test_a_budget_too_small_for_the_halo_is_refused(rng):
    frame = _noisy("fcc", 3.6, (6, 6, 6), 0.05, rng)
    with pytest.raises(InputError, match="halo"):
        Tiling(frame, 50, halo=8.0)
    assert 0.85 * 3.6 < density_length(frame) < 3.6  # fcc: 0.89 first-shell distances


def test_a_classifier_without_reach_cannot_be_tiled():
    class Blind:
        name = "blind"

        def classify(self, frame, neighbors=None):
            raise AssertionError

    with pytest.raises(InputError, match="reach"):
        Tiled(Blind(), 100)


def _half_molten(rng, reps=(40, 8, 8)) -> Frame:
    """An elongated fcc frame, one half with liquid-like noise: tiles are cut along it only."""
    frame = lattice("fcc", 2.55, reps)
    hot = frame.scaled_positions()[:, 0] < 0.5
    sigma = np.where(hot, 0.45, 0.1)[:, None]
    return frame.replace(positions=frame.positions + sigma * rng.normal(size=frame.positions.shape))


def test_a_scale_named_twice_is_pinned_as_once(rng):
    from structid.neighbors import NearestDistance
    from structid.scales import pin_scales

    frame = _half_molten(rng, (24, 6, 6))
    tiling = Tiling(frame, 1500, 6.0)
    assert len(tiling) >= 3
    expected = NearestDistance(4).reduce(NearestDistance(4).per_atom(frame), frame)
    pinned = pin_scales(frame, tiling, [NearestDistance(4), NearestDistance(1), NearestDistance(4)])
    assert pinned["nn_distance:4"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("case", ["bulk", "slab", "half-molten"])
def test_the_ball_scale_is_what_the_map_finds_on_the_whole_frame(case, rng):
    from structid.descriptors.neighbors_map import NeighborsMap

    frame = _noisy("bcc", 2.5, (8, 8, 8), 0.12, rng) if case != "half-molten" else _half_molten(rng, (12, 6, 6))
    if case == "slab":
        frame = frame.replace(pbc=np.array([True, False, True]))
    descriptor = NeighborsMap(scale="auto")
    expected = descriptor.ball(frame, descriptor.find_neighbors(frame))
    scale = descriptor.frame_scales()[0]
    assert scale.reduce(scale.per_atom(frame), frame) == pytest.approx(expected, rel=1e-12)


def test_tiled_ml_stage_equals_the_whole_frame(rng):
    from structid.registry import default_pipeline, pipeline
    from structid.scales import declared_scales

    frame = _half_molten(rng)
    ml = default_pipeline().ml  # maps, averaging, order check, pockets and the glass model
    assert {s.key.split(":")[0] for s in declared_scales(ml)} >= {"map_ball", "steinhardt_cutoff", "nn_distance", "species"}
    # the whole stage in tiles, and each of its levels in tiles with its own halo
    levels = default_pipeline(max_atoms=7000).ml
    assert levels.max_atoms == levels.classifier.max_atoms == 7000 and isinstance(levels.glass, Tiled)
    for classifier, tiled in ((pipeline("nmcnn"), Tiled(pipeline("nmcnn"), 7000)), (ml, Tiled(ml, 7000)),
                              (ml, levels)):
        assert len(Tiling(frame, 7000, Tiled(classifier, 7000).halo(frame))) >= 2
        whole, split = classifier.classify(frame), tiled.classify(frame)
        assert np.array_equal(split.codes, whole.codes)
        assert (whole.codes == 1).mean() > 0.3 and (whole.codes == 12).mean() > 0.3  # fcc and liquid
        if whole.probabilities is not None:
            np.testing.assert_allclose(split.probabilities, whole.probabilities, atol=1e-5)


@pytest.mark.parametrize("sigma", [0.18, 0.75])
def test_tiled_denoising_moves_atoms_as_the_whole_frame_does(sigma, rng):
    from structid.registry import get_denoiser

    # 0.75 Å: liquid-like, some atoms have fewer than 4 neighbours in a step's list
    frame = _noisy("bcc", 2.5, (30, 8, 8), sigma, rng)
    denoiser = get_denoiser()
    whole = denoiser.denoise(frame, 4, 1e-2)
    split = denoiser.denoise_tiled(frame, 3000, 4, 1e-2)  # what denoise(max_atoms=3000) runs
    assert split is not None
    assert whole.iterations == split.iterations == 4
    np.testing.assert_allclose(split.frame.positions, whole.frame.positions, atol=1e-5)
    assert np.abs(whole.frame.positions - frame.wrapped().positions).max() > 0.1  # atoms did move


@pytest.mark.parametrize("hot", [False, True])
def test_the_default_pipeline_in_tiles_labels_as_the_whole_frame(hot, rng):
    from structid.registry import default_pipeline

    frame = _half_molten(rng)
    if hot:  # mostly liquid: the ML stage labels every atom, crystals confirmed by the templates
        frame = frame.replace(positions=frame.positions + 0.4 * rng.normal(size=frame.positions.shape))
    whole = default_pipeline().classify(frame)
    split = default_pipeline(max_atoms=7000).classify(frame)
    assert np.array_equal(split.codes, whole.codes)
    crystal = np.isin(whole.codes, [1, 2, 3]).mean()
    assert (crystal < 0.35) if hot else (crystal > 0.45)


def test_max_atoms_on_the_command_line(tmp_path, rng):
    from structid.io.readers import open_trajectory
    from structid.io.writers import TrajectoryWriter

    from conftest import assert_one_line_error, run_cli

    frame = _half_molten(rng).replace(species=np.full(10240, "Cu"))
    with TrajectoryWriter(tmp_path / "in.extxyz") as writer:
        writer.write(frame)
    for name, options in (("whole", ()), ("tiles", ("--max-atoms", "7000"))):
        result = run_cli("classify", tmp_path / "in.extxyz", "-m", "ptm", "-o", tmp_path / f"{name}.extxyz", *options)
        assert result.returncode == 0, result.stderr
    whole, tiles = (next(iter(open_trajectory(tmp_path / f"{name}.extxyz"))) for name in ("whole", "tiles"))
    assert np.array_equal(whole.properties["structure_type"], tiles.properties["structure_type"])
    assert (whole.properties["structure_type"] == 1).mean() > 0.3
    assert_one_line_error(run_cli("classify", tmp_path / "in.extxyz", "--max-atoms", "0"), "--max-atoms")
    assert_one_line_error(run_cli("denoise", tmp_path / "in.extxyz", "-o", tmp_path / "d.extxyz",
                                  "--max-atoms", "7k"), "--max-atoms")
    assert_one_line_error(run_cli("classify", tmp_path / "in.extxyz", "-m", "ptm", "--max-atoms", "300"), "halo")


def test_max_atoms_auto_fits_the_memory_available(monkeypatch):
    from structid import runtime
    from structid.registry import (BASE_MEMORY, FRAME_BYTES_PER_ATOM, TILE_BYTES_PER_ATOM, atoms_in_memory,
                                   resolve_max_atoms)

    four_gib = 4 << 30
    assert atoms_in_memory(100_000, four_gib) is None  # fits whole
    per_tile = atoms_in_memory(1_000_000, four_gib)
    # what the tiles, the frame's own arrays and the rest take, with room to spare
    assert BASE_MEMORY + per_tile * TILE_BYTES_PER_ATOM + 1_000_000 * FRAME_BYTES_PER_ATOM <= 0.85 * four_gib
    assert 100_000 < per_tile < 1_000_000
    assert atoms_in_memory(1_000_000, 64 << 30) is None
    assert atoms_in_memory(10**8, four_gib) == 20_000  # the floor: best effort
    monkeypatch.setenv(runtime.MEMORY_VARIABLE, "4G")
    assert runtime.memory_available() <= four_gib
    # what the process holds already counts against the cap, and towards what it needs besides
    monkeypatch.setattr(runtime, "resident_memory", lambda: 300 << 20)
    assert 0.8 * per_tile <= atoms_in_memory(1_000_000) <= 1.2 * per_tile
    monkeypatch.setattr(runtime, "resident_memory", lambda: 2 << 30)
    assert atoms_in_memory(1_000_000) < 0.5 * per_tile
    monkeypatch.setenv(runtime.MEMORY_VARIABLE, "lots")
    with pytest.raises(InputError, match="STRUCTID_MEMORY"):
        runtime.memory_available()
    assert runtime.parse_bytes("512M") == 512 << 20 and runtime.parse_bytes("1000") == 1000
    assert resolve_max_atoms("off") is None and resolve_max_atoms(None) is None
    assert resolve_max_atoms("auto") == "auto"
    assert resolve_max_atoms("7000") == resolve_max_atoms(7000) == 7000
    for bad in ("0", "-3", "7k", "1e5", 2.5):
        with pytest.raises(InputError, match="--max-atoms"):
            resolve_max_atoms(bad)


def test_a_pipeline_sized_to_memory_tiles_only_big_frames(rng):
    from structid.models.tiled import SizedToMemory

    frame = _half_molten(rng, (24, 6, 6))
    asked = []

    def build(per_tile):
        asked.append(per_tile)
        return build_pipeline("acna", max_atoms=per_tile)

    sized = SizedToMemory(build, lambda n: 1500 if n > 2000 else None)
    whole = build_pipeline("acna").classify(frame)
    assert np.array_equal(sized.classify(frame).codes, whole.codes)
    small = frame.select(np.arange(1000))
    assert np.array_equal(sized.classify(small).codes, build_pipeline("acna").classify(small).codes)
    sized.classify(frame)
    assert asked == [None, 1500] and isinstance(sized.built[1500], Tiled) and sized.name == "acna"
