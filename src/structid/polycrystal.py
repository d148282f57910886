"""Synthetic polycrystals: periodic boxes of randomly oriented grains of different lattices.

Used for the bundled example (``structid example grains``) and for tests; every atom carries its
grain index and the structure of its grain.
"""

from __future__ import annotations

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import LATTICES, lattice, random_rotation_matrix
from structid.neighbors import neighbor_list


def polycrystal(
    structures: tuple[str, ...] = ("fcc", "hcp", "bcc"),
    box_length: float = 30.0,
    grains: int = 6,
    nn_distance: float = 2.55,
    min_distance: float = 0.75,
    seed: int | None = 0,
) -> Frame:
    """A cubic periodic box filled with Voronoi grains, grain ``g`` made of
    ``structures[g % len(structures)]`` in a random orientation.

    Args:
        structures: lattice names (see :data:`structid.lattices.LATTICES`).
        box_length: edge of the cubic box, Å.
        grains: number of grains.
        nn_distance: nearest-neighbour distance of every lattice, Å.
        min_distance: atoms closer than this many ``nn_distance`` across a grain boundary are
            thinned out (one of each close pair removed).
        seed: random seed (grain centres and orientations).

    Returns:
        A frame with ``properties["grain"]`` (int) and ``properties["true_structure"]`` (str).
    """
    for name in structures:
        if name not in LATTICES:
            raise InputError(f"unknown lattice {name!r}; known: {', '.join(LATTICES)}")
    if grains < 1 or box_length <= 4 * nn_distance:
        raise InputError("need at least one grain and a box longer than four neighbor distances")
    rng = np.random.default_rng(seed)
    box = np.eye(3) * box_length
    centres = rng.random((grains, 3)) * box_length
    positions, grain_of = [], []
    for g in range(grains):
        name = structures[g % len(structures)]
        spec = LATTICES[name]
        # A block of lattice around the grain centre reaching every point of its Voronoi cell
        # (no farther than half the box diagonal under the minimum-image convention).
        reach = box_length * np.sqrt(3) / 2 + 2 * nn_distance
        heights = nn_distance / np.linalg.norm(np.linalg.inv(spec.cell), axis=0)
        repeat = np.ceil(2 * reach / heights).astype(int)
        block = lattice(name, nn_distance, tuple(repeat))
        points = block.positions - block.cell.sum(axis=0) / 2
        points = points @ random_rotation_matrix(rng).T + centres[g]
        points = points[np.linalg.norm(points - centres[g], axis=1) <= reach]
        # Keep the points whose nearest centre (minimum image) is g, seen from that same image.
        delta = points[:, None, :] - centres[None, :, :]
        delta -= box_length * np.round(delta / box_length)
        distance = np.linalg.norm(delta, axis=2)
        direct = np.linalg.norm(points - centres[g], axis=1)
        keep = (distance.argmin(axis=1) == g) & np.isclose(direct, distance[:, g])
        positions.append(points[keep] % box_length)
        grain_of.append(np.full(keep.sum(), g))
    grain = np.concatenate(grain_of)
    names = np.array([structures[g % len(structures)] for g in range(grains)])
    frame = Frame(
        positions=np.concatenate(positions),
        cell=box,
        pbc=True,
        species=np.full(len(grain), "X"),
        properties={"grain": grain, "true_structure": names[grain]},
        info={"nn_distance": nn_distance},
    )
    close = neighbor_list(frame, min_distance * nn_distance)
    drop = np.unique(np.maximum(close.i, close.j))
    keep = np.ones(len(frame), dtype=bool)
    keep[drop] = False
    frame = frame.select(keep)
    return frame.replace(ids=np.arange(1, len(frame) + 1))
