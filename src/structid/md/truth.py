"""Per-atom truth of a realistic sample from its inherent structure.

A thermal snapshot is energy-minimised at fixed cell with its own potential (in
:mod:`structid.md.simulate`); the minimised positions are labelled here with OVITO's adaptive CNA
(metals) or IdentifyDiamond (diamond lattices). Without thermal noise these are the physical
ground truth of "which crystal is this atom in, or is it a defect": the label is kept on the
thermal positions. Each atom also gets its depth below a free surface, in neighbour hops, so that
a benchmark can report surface atoms and the crystal just under them apart from the bulk.
"""

from __future__ import annotations

import numpy as np

from structid.classical import AdaptiveCNA, IdentifyDiamond
from structid.frame import Frame
from structid.neighbors import neighbor_list, nn_distance

#: a point of empty space farther than this many nearest-neighbour distances from every atom is
#: vacuum: larger than the hole of a vacancy (one neighbour distance) or of a grain boundary
PROBE = 1.5
#: grid spacing of the vacuum probe, in nearest-neighbour distances
_GRID = 0.3
#: depth of atoms in a sample without free surfaces
NO_SURFACE = 99


def truth_labels(inherent: Frame, lattice: str) -> np.ndarray:
    """(n,) structure names of the minimised positions ``inherent``: IdentifyDiamond for
    diamond lattices, adaptive CNA otherwise."""
    method = IdentifyDiamond() if lattice in ("cd", "hd") else AdaptiveCNA()
    return method.classify(inherent).names


def _in_box(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions wrapped into [0, box) (``%`` alone can round up to ``box``)."""
    wrapped = positions % box
    return np.where(wrapped >= box, 0.0, wrapped)


def surface_depth(inherent: Frame) -> np.ndarray:
    """(n,) depth of every atom below a free surface in neighbour hops: 0 for surface atoms,
    1 for their neighbours, ...; :data:`NO_SURFACE` when no vacuum reaches the atom's part of
    the sample. Surface atoms are those nearest to some point of vacuum (empty space farther
    than :data:`PROBE` neighbour distances from every atom). Needs an orthorhombic cell."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra
    from scipy.spatial import cKDTree

    n = len(inherent)
    d = nn_distance(inherent)
    box = inherent.cell.diagonal().copy()
    if not np.allclose(inherent.cell, np.diag(box)):
        raise ValueError("surface_depth needs an orthorhombic cell")
    positions = _in_box(inherent.positions - inherent.origin, box)
    tree = cKDTree(positions, boxsize=box)
    steps = np.maximum(1, np.ceil(box / (_GRID * d))).astype(int)
    axes = [(np.arange(k) + 0.5) * length / k for k, length in zip(steps, box)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    room, nearest = tree.query(grid)
    surface = np.unique(nearest[room >= PROBE * d])
    depth = np.full(n, NO_SURFACE, dtype=np.int64)
    if not len(surface):
        return depth
    # first shell only (bcc's second shell is at 1.15 d): hops count atomic layers
    bonds = neighbor_list(inherent, 1.1 * d)
    graph = coo_matrix((np.ones(len(bonds.i)), (bonds.i, bonds.j)), shape=(n, n)).tocsr()
    hops = dijkstra(graph, indices=surface, unweighted=True, min_only=True)
    reached = np.isfinite(hops)
    depth[reached] = np.minimum(hops[reached], NO_SURFACE).astype(np.int64)
    return depth
