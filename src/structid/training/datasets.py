"""Training sets: frames of files, augmentation, and sampled Neighbors Maps (labels of a user's
files: :mod:`structid.training.autolabel`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from structid.descriptors.neighbors_map import NeighborsMap
from structid.frame import Frame
from structid.io.readers import open_trajectory
from structid.io.selection import FrameSelection
from structid.labels import VOCABULARY
from structid.lattices import gaussian_noise, remove_atoms
from structid.neighbors import nn_distance

#: the per-atom label column augmented copies carry
_LABEL = "_label"


def augmented(frame: Frame, rng: np.random.Generator, missing: float = 0.0,
              noise_fraction: float = 0.0, noise_sigma: float = 0.0) -> Frame:
    """A copy with a ``missing`` share of atoms removed and Gaussian noise of ``noise_sigma``
    (in nearest-neighbour distances) on a ``noise_fraction`` share of the rest."""
    out = remove_atoms(frame, missing, rng) if missing > 0 else frame
    if noise_fraction > 0 and noise_sigma > 0:
        noisy = gaussian_noise(out, noise_sigma * nn_distance(out), rng)
        pick = rng.random(len(out)) < noise_fraction
        out = out.replace(positions=np.where(pick[:, None], noisy.positions, out.positions))
    return out


def sample_maps(descriptor: NeighborsMap, frame: Frame, names: np.ndarray, wanted: int,
                rng: np.random.Generator, missing: float = 0.0, noise_fraction: float = 0.0,
                noise_sigma: float = 0.0, refill: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Maps and labels of ``wanted`` random atoms of augmented copies of ``frame`` (per-atom
    ``names``); with ``refill``, a fresh copy (new removals) each time one runs out of atoms,
    else one copy only. Atoms labelled ``unknown`` are never sampled (one rule for every
    trainer), but stay in the frame as the others' neighbours."""
    frame = frame.replace(properties={_LABEL: np.asarray(names)})
    maps, labels = [], []
    while wanted > 0:
        copy = augmented(frame, rng, missing=missing, noise_fraction=noise_fraction, noise_sigma=noise_sigma)
        # same draws as choice(len(copy)) when nothing is unknown: recipes stay reproducible
        candidates = np.flatnonzero(copy.properties[_LABEL] != "unknown")
        atoms = rng.choice(candidates, size=min(wanted, len(candidates)), replace=False)
        maps.append(descriptor.compute(copy, atoms=atoms))
        labels.append(copy.properties[_LABEL][atoms])
        wanted -= len(atoms)
        if not refill or len(atoms) == 0:
            break
    return maps, labels


def frames_of(spec: str, types: dict[int, str] | None = None,
              selection: FrameSelection | None = None) -> Iterator[Frame]:
    """The frames of a ``FILE`` or ``LABEL=FILE`` spec."""
    path = spec.partition("=")[2] or spec
    return (frame for _, frame in (selection or FrameSelection()).apply(open_trajectory(path, types=types), path))


def sample_maps_by_class(descriptor: NeighborsMap, frame: Frame, codes: np.ndarray, quota: dict[int, int],
                         rng: np.random.Generator, missing: float = 0.0, noise_fraction: float = 0.0,
                         noise_sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Maps of ``quota[code]`` atoms of each class (vocabulary ``codes`` per atom) of one augmented
    copy of ``frame``; a class with fewer surviving atoms than its quota repeats atoms (their maps
    differ only where the copy's noise does)."""
    copy = augmented(frame.replace(properties={_LABEL: np.asarray(codes)}), rng, missing=missing,
                     noise_fraction=noise_fraction, noise_sigma=noise_sigma)
    kept = np.asarray(copy.properties[_LABEL])
    atoms = []
    for code, n in sorted(quota.items()):
        candidates = np.flatnonzero(kept == code)
        if n and len(candidates):
            atoms.append(rng.choice(candidates, size=n, replace=n > len(candidates)))
    if not atoms:
        return np.zeros((0, descriptor.channels, descriptor.size, descriptor.size), np.float32), np.array([], dtype=str)
    atoms = np.concatenate(atoms)
    return descriptor.compute(copy, atoms=atoms), np.asarray(VOCABULARY)[kept[atoms].astype(int)]
