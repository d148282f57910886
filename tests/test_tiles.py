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
