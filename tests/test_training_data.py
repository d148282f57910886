"""One rule for ``unknown`` atoms in training data: never a training sample, still a neighbour."""

import numpy as np

from structid.descriptors.neighbors_map import NeighborsMap
from structid.lattices import gaussian_noise, lattice
from structid.training.datasets import augmented, sample_maps


def test_unknown_atoms_are_never_sampled_but_stay_neighbours():
    frame = lattice("fcc", 2.5, 4)
    names = np.where(np.arange(len(frame)) < 128, "unknown", "fcc")
    descriptor = NeighborsMap(scale="auto")
    maps, labels = sample_maps(descriptor, frame, names, 600, np.random.default_rng(0))
    labels = np.concatenate(labels)
    assert len(labels) == 600 and set(labels) == {"fcc"}
    # every map is the full fcc map: the unknown atoms were kept as neighbours
    reference = descriptor.compute(frame, atoms=np.array([200]))[0]
    assert np.allclose(np.concatenate(maps), reference, atol=1e-5)


def test_without_unknown_atoms_the_draws_are_unchanged():
    """Shipped recipes sample the same atoms as before the rule (reproducible models)."""
    frame = gaussian_noise(lattice("bcc", 2.5, 4), 0.1, 1)
    names = np.full(len(frame), "bcc")
    descriptor = NeighborsMap(scale="auto")
    maps, _ = sample_maps(descriptor, frame, names, 50, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    copy = augmented(frame, rng)
    before = rng.choice(len(copy), size=50, replace=False)  # the draw used before the rule
    np.testing.assert_allclose(maps[0], descriptor.compute(copy, atoms=before), atol=1e-6)
