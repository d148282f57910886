"""Periodic neighbor lists (cutoff and k-nearest) on top of the compiled ``vesin`` library.

Handles triclinic cells, mixed periodicity and cells smaller than twice the cutoff (vesin
enumerates every periodic image within the cutoff). Distances in Å.

Every stage that needs neighbours (descriptors, classifiers, the denoiser, compositions) takes
one ``neighbors=`` argument, read by :func:`resolve`: None (the stage searches what it needs),
a prebuilt :class:`NeighborList` (used when it reaches far enough, so that stages share one
search), or a query ``{"r_max": 3.5}`` / ``{"num_neighbors": 12}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Union

import numpy as np
from numba import njit, prange

from structid.errors import InputError
from structid.frame import Frame, completed_cell
from structid.scales import Scale, frame_value, owned_atoms


@dataclass(frozen=True)
class NeighborList:
    """All pairs (i, j, shift) with ``|r_j + shift @ cell - r_i| < cutoff``, both directions.

    Pairs are sorted by ``i`` then by distance, so the neighbors of atom ``i`` are
    ``slice(offsets[i], offsets[i + 1])``, nearest first.

    Attributes:
        i, j: (m,) atom indices (int32).
        shifts: (m, 3) integer cell shifts applied to ``j`` (int32): with float64 vectors and
            distances, 44 bytes per pair (a million-atom Neighbors Map list has ~44 million).
        vectors: (m, 3) vectors from ``i`` to the image of ``j``, Å.
        distances: (m,) lengths of ``vectors``, Å.
        offsets: (n + 1,) start of each atom's pairs.
        cutoff: the cutoff used, Å.
    """

    i: np.ndarray
    j: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray
    offsets: np.ndarray
    cutoff: float

    @property
    def n_atoms(self) -> int:
        return len(self.offsets) - 1

    def counts(self) -> np.ndarray:
        """(n,) number of neighbors of every atom."""
        return np.diff(self.offsets)

    def within(self, cutoff: float) -> NeighborList:
        """The pairs closer than ``cutoff`` (Å, at most this list's cutoff)."""
        if cutoff > self.cutoff:
            raise InputError(f"a neighbor list to {self.cutoff:.3f} Å cannot give pairs to {cutoff:.3f} Å")
        keep = self.distances < cutoff
        offsets = np.zeros_like(self.offsets)
        np.cumsum(np.bincount(self.i[keep], minlength=self.n_atoms), out=offsets[1:])
        return NeighborList(self.i[keep], self.j[keep], self.shifts[keep], self.vectors[keep],
                            self.distances[keep], offsets, float(cutoff))

    def nearest(self, k: int) -> NearestNeighbors | None:
        """The ``k`` nearest neighbors of every atom, or None when some atom has fewer than
        ``k`` in this list."""
        n = self.n_atoms
        if n and self.counts().min() < k:
            return None
        take = (self.offsets[:-1, None] + np.arange(k)).ravel()
        return NearestNeighbors(indices=self.j[take].reshape(n, k),
                                vectors=self.vectors[take].reshape(n, k, 3),
                                distances=self.distances[take].reshape(n, k))


@dataclass(frozen=True)
class NearestNeighbors:
    """The ``k`` nearest neighbors of every atom, nearest first.

    Attributes:
        indices: (n, k) neighbor atom indices.
        vectors: (n, k, 3) vectors from the atom to each neighbor image, Å.
        distances: (n, k) distances, Å.
    """

    indices: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray

    @property
    def k(self) -> int:
        return self.indices.shape[1]


#: what a ``neighbors=`` argument may be (see the module docstring)
Neighbors = Union[NeighborList, Mapping[str, float], None]


def neighbor_list(frame: Frame, cutoff: float) -> NeighborList:
    """Every pair of atoms closer than ``cutoff`` (Å), with periodic images.

    An atom is never its own neighbor at zero shift, but is its own neighbor through a periodic
    image when the cell is shorter than the cutoff.
    """
    from vesin import NeighborList as VesinNeighborList

    if not cutoff > 0 or not np.isfinite(cutoff):
        raise InputError(f"`cutoff` must be a positive number of Å, got {cutoff!r}")
    n = len(frame)
    points = frame.positions - frame.origin
    box = completed_cell(frame.cell)
    calculator = VesinNeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts, vectors = calculator.compute(
        points=points, box=box, periodic=frame.pbc.tolist(), quantities="ijSD", copy=True
    )
    distances = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    order, offsets = _order_by_atom_then_distance(i, distances, n)
    # one array at a time, each source let go once gathered: the peak holds the search's output
    # and the sorted list for one array, not for all five (~84 bytes per pair instead of ~112)
    i = _gather(order, i, np.int32)
    j = _gather(order, j, np.int32)
    shifts = _gather(order, shifts, np.int32)
    vectors = _gather(order, vectors, np.float64)
    distances = _gather(order, distances, np.float64)
    return NeighborList(i=i, j=j, shifts=shifts, vectors=vectors, distances=distances,
                        offsets=offsets, cutoff=float(cutoff))


def pair_list(frame: Frame, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(j, shifts, offsets) of every pair closer than ``cutoff`` (Å), in :func:`neighbor_list`'s
    order (by atom, then by distance; atom a's pairs are offsets[a]:offsets[a + 1]), int32 and
    without vectors or distances: 16 bytes per pair instead of 44, for a stage that holds tens
    of millions of pairs (a million-atom frame's denoising graph) and computes its vectors
    itself."""
    from vesin import NeighborList as VesinNeighborList

    if not cutoff > 0 or not np.isfinite(cutoff):
        raise InputError(f"`cutoff` must be a positive number of Å, got {cutoff!r}")
    calculator = VesinNeighborList(cutoff=float(cutoff), full_list=True)
    i, j, shifts, vectors = calculator.compute(points=frame.positions - frame.origin, box=completed_cell(frame.cell),
                                               periodic=frame.pbc.tolist(), quantities="ijSD", copy=True)
    distances = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    del vectors
    order, offsets = _order_by_atom_then_distance(i, distances, len(frame))
    del distances, i
    return _gather(order, j, np.int32), _gather(order, shifts, np.int32), offsets


def nearest_neighbors(frame: Frame, k: int, *, max_cutoff: float | None = None,
                      neighbors: Neighbors = None) -> NearestNeighbors:
    """The ``k`` nearest neighbors (periodic images included) of every atom.

    From ``neighbors`` when it holds ``k`` per atom; otherwise the search radius starts from the
    mean atomic density and grows until every atom has ``k`` neighbors; ``max_cutoff`` (Å,
    default 4x the first radius) bounds it so that an isolated atom gives an error instead of an
    all-pairs list.
    """
    n = len(frame)
    if k < 1:
        raise InputError(f"`k` must be at least 1, got {k}")
    # on a tile only its own atoms need all k (see structid.tiles): atoms at the tile's open
    # edge would grow every atom's search far past what the frame needs
    owned = owned_atoms(frame)
    if isinstance(neighbors, NeighborList) and neighbors.n_atoms == n:
        found = neighbors.nearest(k) if owned is None else _nearest_padded(neighbors, k, owned)
        if found is not None:
            return found
    where = frame.info.get("source", "frame")
    if not frame.pbc.any() and n < k + 1:
        raise InputError(
            f"{where}: {n} atoms in a non-periodic frame, but {k} neighbors per atom are needed; "
            f"give a frame with at least {k + 1} atoms"
        )
    if n == 0:
        empty = np.zeros((0, k))
        return NearestNeighbors(empty.astype(np.int32), np.zeros((0, k, 3)), empty)
    cutoff = _initial_radius(frame, k)
    limit = 4.0 * cutoff if max_cutoff is None else float(max_cutoff)

    def too_sparse(nl: NeighborList) -> InputError:
        counts = nl.counts()
        atom = int(np.argmin(counts))
        return InputError(
            f"{where}: atom {atom} (id {frame.ids[atom]}) has only {counts[atom]} neighbors "
            f"within {nl.cutoff:.2f} Å, {k} needed; the frame is too sparse or the atom isolated"
        )

    if owned is not None:
        nl = grow_until(frame, cutoff, lambda nl: nl.counts()[:owned].min(initial=k) >= k, factor=1.3,
                        limit=limit, on_limit=too_sparse)
        return _nearest_padded(nl, k, owned)
    nl = grow_until(frame, cutoff, lambda nl: nl.counts().min() >= k, factor=1.3, limit=limit,
                    on_limit=too_sparse)
    return nl.nearest(k)


def _nearest_padded(nl: NeighborList, k: int, owned: int) -> NearestNeighbors | None:
    """The ``k`` nearest of every atom of a tile whose ``owned`` first atoms have them all (else
    None); an atom with fewer (at the tile's open edge, where no label is kept) repeats its
    farthest one, or itself at the list's cutoff when it has none."""
    counts = nl.counts()
    if len(counts) and counts[:owned].min(initial=k) < k:
        return None
    if not len(counts) or counts.min() >= k:
        return nl.nearest(k)
    rows = np.arange(nl.n_atoms)
    take = nl.offsets[:-1, None] + np.minimum(np.arange(k), np.maximum(counts, 1)[:, None] - 1)
    take = np.minimum(take, max(len(nl.j) - 1, 0))
    empty = counts == 0
    indices = np.where(empty[:, None], rows[:, None], nl.j[take] if len(nl.j) else 0)
    vectors = np.where(empty[:, None, None], 0.0, nl.vectors[take] if len(nl.j) else 0.0)
    distances = np.where(empty[:, None], nl.cutoff, nl.distances[take] if len(nl.j) else 0.0)
    return NearestNeighbors(indices=indices, vectors=vectors, distances=distances)


def grow_until(frame: Frame, radius: float, enough: Callable[[NeighborList], bool], *,
               factor: float, limit: float | None = None, max_tries: int | None = None,
               on_limit: Callable[[NeighborList], Exception] | None = None) -> NeighborList:
    """The neighbor list at ``radius`` (Å), grown by ``factor`` until ``enough(list)`` holds.

    The radius is capped at ``limit``; the search stops after ``max_tries`` lists. When either
    bound is reached without ``enough``, ``on_limit(list)`` is raised if given, else the last
    list is returned.
    """
    tries = 0
    while True:
        nl = neighbor_list(frame, radius)
        tries += 1
        if enough(nl):
            return nl
        if (limit is not None and radius >= limit) or (max_tries is not None and tries >= max_tries):
            if on_limit is not None:
                raise on_limit(nl)
            return nl
        del nl  # let the list go before the larger one is searched (a peak of both otherwise)
        radius = radius * factor if limit is None else min(radius * factor, limit)


def resolve(frame: Frame, neighbors: Neighbors = None, *, r_max: float | None = None) -> NeighborList | None:
    """The neighbor list a stage should use, from its ``neighbors=`` argument.

    A :class:`NeighborList` of this frame is returned as it is (cut to ``r_max`` when it reaches
    farther); a query is searched (``{"r_max": R}``: every pair within R Å; ``{"num_neighbors":
    k}``: a list holding at least the k nearest of every atom). None, or a list that does not
    reach ``r_max``, gives a fresh search to ``r_max`` when one is given, else None: the stage
    then searches as it does by default.
    """
    if neighbors is None:
        return neighbor_list(frame, r_max) if r_max is not None else None
    if isinstance(neighbors, NeighborList):
        if neighbors.n_atoms != len(frame):
            raise InputError(f"the neighbor list holds {neighbors.n_atoms} atoms, the frame {len(frame)}")
        if r_max is None or neighbors.cutoff == r_max:
            return neighbors
        if neighbors.cutoff > r_max:
            return neighbors.within(r_max)
        return neighbor_list(frame, r_max)
    if isinstance(neighbors, Mapping):
        unknown = set(neighbors) - {"r_max", "num_neighbors"}
        if unknown or len(neighbors) != 1:
            raise InputError(f"a neighbor query is {{'r_max': Å}} or {{'num_neighbors': k}}, got {dict(neighbors)!r}")
        if "r_max" in neighbors:
            return resolve(frame, neighbor_list(frame, float(neighbors["r_max"])), r_max=r_max)
        k = int(neighbors["num_neighbors"])
        if k < 1:
            raise InputError(f"`num_neighbors` must be at least 1, got {k}")
        cutoff = _initial_radius(frame, k)
        nl = grow_until(frame, cutoff, lambda nl: nl.n_atoms == 0 or nl.counts().min() >= k,
                        factor=1.3, limit=4.0 * cutoff)
        return resolve(frame, nl, r_max=r_max)
    raise InputError(f"`neighbors` must be a NeighborList, a query dict or None, got {type(neighbors).__name__}")


def nn_distance(frame: Frame, k: int = 1, neighbors: Neighbors = None) -> float:
    """The frame's nearest-neighbour distance, Å: the median over atoms of the mean distance to
    each atom's ``k`` nearest neighbours (``k = 1``: the nearest one; ``k = 4``: the first shell of
    fcc, bcc, hcp, sc, cd, hd and rocksalt alike). Medians are robust to thermal noise, missing
    atoms and surfaces."""
    if len(frame) < 2:
        raise InputError(f"{frame.info.get('source', 'frame')}: {len(frame)} atom(s); the "
                         "nearest-neighbour distance cannot be estimated")
    return frame_value(frame, NearestDistance(k),
                       lambda: nearest_neighbors(frame, k, neighbors=resolve(frame, neighbors)).distances.mean(axis=1))


class NearestDistance(Scale):
    """The median over atoms of the mean distance to the ``k`` nearest neighbours, Å
    (:func:`~structid.neighbors.nn_distance`)."""

    def __init__(self, k: int = 1) -> None:
        self.k = int(k)
        self.key = f"nn_distance:{self.k}"

    def per_atom(self, frame: Frame) -> np.ndarray:
        return nearest_neighbors(frame, self.k).distances.mean(axis=1)

    def reduce(self, values: np.ndarray, frame: Frame) -> float:
        return float(np.median(values))


#: no condensed phase has its nearest neighbours this far apart, Å: an atom (or a frame) whose
#: nearest neighbours are farther is in a gas (or not in Å) and gets no structure (`other`);
#: the denoiser leaves such a frame as it is
CONDENSED_DISTANCE = 10.0


def coincident_atoms(frame: Frame, tolerance: float = 1e-6) -> tuple[int, int] | None:
    """Two atoms of ``frame`` at the same wrapped position (within ``tolerance`` Å, up to
    rounding), or None. A sort, not a neighbour search: cheap enough for every classifier."""
    if len(frame) < 2:
        return None
    positions = frame.wrapped().positions if frame.pbc.any() else frame.positions
    keys = np.round(positions / tolerance).astype(np.int64) if tolerance > 0 else positions
    order = np.lexsort(keys.T)
    same = np.all(keys[order[1:]] == keys[order[:-1]], axis=1)
    if not same.any():
        return None
    k = int(np.argmax(same))
    a, b = sorted((int(order[k]), int(order[k + 1])))
    return a, b


def coincident_error(frame: Frame, a: int, b: int) -> InputError:
    """The one-line error for atoms ``a`` and ``b`` of ``frame`` sitting at one position."""
    where = frame.info.get("source", "frame")
    return InputError(f"{where}: atoms {a} and {b} (ids {frame.ids[a]}, {frame.ids[b]}) sit at the "
                      "same position; remove duplicate atoms")


def refuse_coincident(frame: Frame) -> None:
    """Raise :func:`coincident_error` when two atoms of ``frame`` sit at one position: no
    neighbourhood of either is defined (bond directions, templates, maps)."""
    pair = coincident_atoms(frame)
    if pair is not None:
        raise coincident_error(frame, *pair)


def median_of_means(distances: np.ndarray) -> float:
    """Median over rows of the row means of (n, k) distances: the :func:`nn_distance` statistic."""
    return float(np.median(distances.mean(axis=1)))


@njit(cache=True, parallel=True)
def _order_by_atom_then_distance(i: np.ndarray, d: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Permutation grouping pairs by ``i`` (counting sort), each group by distance, and the
    group offsets. Ties keep their input order."""
    m = len(i)
    offsets = np.zeros(n + 1, dtype=np.int64)
    for p in range(m):
        offsets[i[p] + 1] += 1
    for a in range(n):
        offsets[a + 1] += offsets[a]
    fill = offsets[:-1].copy()
    order = np.empty(m, dtype=np.int64)
    for p in range(m):
        order[fill[i[p]]] = p
        fill[i[p]] += 1
    for a in prange(n):  # groups are independent: sorted in parallel
        start, stop = offsets[a], offsets[a + 1]
        if stop - start > 48:
            # long groups (large cutoffs): a stable O(k log k) sort
            segment = order[start:stop].copy()
            order[start:stop] = segment[np.argsort(d[segment], kind="mergesort")]
            continue
        for x in range(start + 1, stop):
            key = order[x]
            kd = d[key]
            y = x - 1
            while y >= start and d[order[y]] > kd:
                order[y + 1] = order[y]
                y -= 1
            order[y + 1] = key
    return order, offsets


def _gather(order: np.ndarray, values: np.ndarray, dtype) -> np.ndarray:
    """``values[order]`` as ``dtype``, by a parallel compiled loop (NumPy's gather and cast were
    a third of the list's time on 100k atoms)."""
    out = np.empty((len(order),) + values.shape[1:], dtype=dtype)
    width = int(np.prod(values.shape[1:]))
    _gather_into(order, values.reshape(len(values), width), out.reshape(len(order), width))
    return out


@njit(cache=True, parallel=True)
def _gather_into(order, values, out):
    for p in prange(len(order)):
        q = order[p]
        for c in range(values.shape[1]):
            out[p, c] = values[q, c]


def _initial_radius(frame: Frame, k: int) -> float:
    """Radius of a sphere holding ``k`` atoms at the frame's mean density, plus a margin."""
    n = len(frame)
    if frame.pbc.all():
        volume = frame.volume
    else:
        extent = np.ptp(frame.positions, axis=0) if n > 1 else np.ones(3)
        lengths = np.linalg.norm(frame.cell, axis=1)
        extent = np.where(frame.pbc, lengths, np.maximum(extent, 1.0))
        volume = float(np.prod(extent))
    radius = (3.0 * (k + 1) * volume / (4.0 * np.pi * n)) ** (1.0 / 3.0)
    return 1.25 * radius + 0.1
