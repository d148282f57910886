"""Neighbors Map: a rotation-, translation- and permutation-invariant image of each atom's
neighborhood (Allera et al. 2023, section 2.2).

For atom i with neighbors j_1, j_2, ... sorted by distance inside the ball of radius ``r_cut``:

* row 0, column n-1:   w_i w_{j_n} / d(i, j_n)^gamma                      (n = 1..N)
* row k, column n-1:   alpha_k w_{j_k} w_m / d(j_k, m_n)^gamma           (k = 1..N-1)

where m_n is the n-th nearest atom to j_k among the ball and i, and alpha_k =
d(i, j_k)^(-1/beta). Missing entries (fewer than N atoms in the ball) are 0. Channel 0 uses
w = 1; each further channel uses per-species weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from numba import njit, prange

from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.neighbors import (NearestDistance, NeighborList, Neighbors, coincident_error, grow_until, median_of_means,
                                nearest_neighbors, nn_distance, resolve)
from structid.scales import Scale, pinned

#: r_cut rule: this multiple of the 95th percentile, over atoms, of the distance to the N-th
#: nearest neighbor. Most balls then hold more than N atoms (so that rows see the neighbors'
#: own shells), and only atoms in unusually open places get zero pixels.
RCUT_FACTOR = 1.05
RCUT_QUANTILE = 95.0
#: atoms whose N nearest neighbours have their centroid farther than this share of the N-th
#: distance lie at a free surface (or another open place) and do not set the ball radius
OPEN_SHIFT = 0.22
#: ... and atoms whose N-th neighbour is farther than this multiple of the median do not either
OPEN_REACH = 1.1
#: the adaptive search grows its radius by this factor, at most this many times
_GROWTH, _TRIES = 1.25, 8


class NeighborsMap:
    """Compute Neighbors Maps.

    Args:
        size: N, the image is N x N (default 32).
        gamma: decay exponent of pixel intensity with distance (default 2).
        beta: row weights alpha_k = d(i, j_k)^(-1/beta) (default 3).
        r_cut: ball radius in units of ``scale`` (Å when ``scale`` is None); chosen per frame
            by the rule above when None.
        channel_weights: one mapping species -> weight per extra channel, e.g.
            ``[{"Cu": 1, "Zr": -1}]`` for a two-channel map.
        scale: distances are divided by this length (Å) before use; ``"auto"`` uses the
            frame's nearest-neighbour distance (:func:`structid.neighbors.nn_distance`) so that
            one model serves every element; None keeps Å, as in the paper.
    """

    def __init__(
        self,
        size: int = 32,
        gamma: float = 2.0,
        beta: float = 3.0,
        r_cut: float | None = None,
        channel_weights: Sequence[Mapping[str, float]] = (),
        scale: float | str | None = None,
    ) -> None:
        if size < 2:
            raise InputError(f"`size` must be at least 2, got {size}")
        if isinstance(channel_weights, Mapping):
            channel_weights = [channel_weights]
        self.size = int(size)
        self.gamma = float(gamma)
        self.beta = float(beta)
        self.r_cut = r_cut
        self.channel_weights = [dict(w) for w in channel_weights]
        self.scale = scale

    @property
    def channels(self) -> int:
        return 1 + len(self.channel_weights)

    def params(self) -> dict:
        """The constructor arguments (stored with trained models)."""
        return {"size": self.size, "gamma": self.gamma, "beta": self.beta, "r_cut": self.r_cut,
                "channel_weights": self.channel_weights, "scale": self.scale}

    def __repr__(self) -> str:
        return "NeighborsMap(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NeighborsMap) and self.params() == other.params()

    def weights(self, frame: Frame) -> np.ndarray:
        """(C, n) per-atom weights of every channel; an error names species without a weight."""
        w = np.ones((self.channels, len(frame)))
        for c, table in enumerate(self.channel_weights, start=1):
            missing = sorted(set(np.unique(frame.species)) - set(table))
            if missing:
                where = frame.info.get("source", "frame")
                raise InputError(
                    f"{where}: species {', '.join(missing)} has no weight in map channel {c} "
                    f"(weights given for {', '.join(table) or 'none'}); add it to the channel weights")
            names, inverse = np.unique(frame.species, return_inverse=True)
            w[c] = np.array([table[s] for s in names])[inverse]
        return w

    def frame_scales(self) -> list[Scale]:
        """The frame-wide scales the maps depend on (:mod:`structid.scales`)."""
        if self.r_cut is not None:
            return [NearestDistance(1)] if self.scale == "auto" else []
        return [BallScale(self.size, self.scale)]

    def length_scale(self, frame: Frame) -> float:
        """The length (Å) distances are divided by for this frame."""
        if self.scale is None:
            return 1.0
        if self.scale == "auto":
            return nn_distance(frame)
        return float(self.scale)

    def find_neighbors(self, frame: Frame) -> NeighborList:
        """The neighbour list the maps of ``frame`` are made from: all pairs within the fixed
        ``r_cut``, or, for the adaptive rule, a list grown until 96 % of the atoms have N
        neighbours in it."""
        n = len(frame)
        if n < 2 and not frame.pbc.any():
            raise InputError(f"{frame.info.get('source', 'frame')}: a Neighbors Map needs at least 2 atoms")
        if self.r_cut is not None:
            return resolve(frame, r_max=float(self.r_cut) * self.length_scale(frame))
        ball = pinned(frame, self.frame_scales()[0])
        if ball is not None:  # a tile: the frame's ball
            return resolve(frame, r_max=ball[0])
        # start from the radius that holds ~1.3 N atoms at the mean density
        radius = _first_radius(frame, self.size)
        return grow_until(frame, radius, lambda nl: self._covers(frame, nl), factor=_GROWTH,
                          max_tries=_TRIES)

    def _covers(self, frame: Frame, nl: NeighborList) -> bool:
        """Whether ``nl`` reaches far enough for the adaptive ``r_cut`` rule."""
        enough = nl.counts() >= self.size
        return bool(enough.mean() >= RCUT_QUANTILE / 100 + 0.01
                    or not frame.pbc.any() and len(frame) <= self.size)

    def ball(self, frame: Frame, nl: NeighborList) -> tuple[float, float]:
        """The ball radius and the length scale (both Å) of ``frame`` given its list ``nl``."""
        if self.r_cut is not None:
            scale = self.length_scale(frame)
            return float(self.r_cut) * scale, scale
        ball = pinned(frame, self.frame_scales()[0])
        if ball is not None:
            return ball
        _refuse_isolated(frame, nl, nl.counts() > 0)
        d_n = interior_shell_radii(nl, self.size)
        r_cut = min(RCUT_FACTOR * float(np.percentile(d_n, RCUT_QUANTILE)), nl.cutoff)
        return r_cut, self.list_scale(frame, nl)

    def list_scale(self, frame: Frame, nl: NeighborList) -> float:
        """The length scale (Å) of ``frame`` given its list ``nl`` (from :meth:`resolve_neighbors`):
        for ``scale="auto"`` with the adaptive ball, the median nearest-neighbour distance read
        off the list (no second search; atoms with no neighbour in it do not count)."""
        if self.scale != "auto" or self.r_cut is not None:
            return self.length_scale(frame)
        ball = pinned(frame, self.frame_scales()[0])
        if ball is not None:
            return ball[1]
        has = nl.counts() > 0
        _refuse_isolated(frame, nl, has)
        return median_of_means(nl.distances[nl.offsets[:-1][has]][:, None])

    def resolve_neighbors(self, frame: Frame, neighbors: Neighbors = None) -> NeighborList:
        """The list the maps of ``frame`` are made from: ``neighbors`` (a list or query) when it
        reaches far enough for the ball, else :meth:`find_neighbors`."""
        given = resolve(frame, neighbors)
        ball = None if self.r_cut is not None else pinned(frame, self.frame_scales()[0])
        if ball is not None:
            return resolve(frame, given, r_max=ball[0])
        if given is None:
            return self.find_neighbors(frame)
        if self.r_cut is not None:
            return resolve(frame, given, r_max=float(self.r_cut) * self.length_scale(frame))
        return given if self._covers(frame, given) else self.find_neighbors(frame)

    def compute(self, frame: Frame, neighbors: Neighbors = None, atoms: np.ndarray | None = None) -> np.ndarray:
        """(n, C, N, N) float32 maps of every atom (or of the atoms in ``atoms``).

        ``neighbors``: a list or query (:mod:`structid.neighbors`); used when it reaches far
        enough for the ball, else searched again. Memory: 4 C N^2 bytes per atom; use
        :meth:`iter_chunks` for big frames.
        """
        frame = as_frame(frame)
        parts = [maps for _, maps in self.iter_chunks(frame, atoms=atoms, chunk=1 << 62, neighbors=neighbors)]
        if not parts:
            return np.zeros((0, self.channels, self.size, self.size), dtype=np.float32)
        return parts[0]

    def iter_chunks(
        self, frame: Frame, chunk: int = 65536, atoms: np.ndarray | None = None,
        reuse: bool = False, neighbors: Neighbors = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(atom_indices, maps)`` blocks of at most ``chunk`` atoms (bounded memory).

        With ``reuse``, every block is written into the same array (valid until the next block
        is requested): fresh memory for each block costs page faults.
        """
        nl = self.resolve_neighbors(frame, neighbors)
        if len(nl.distances) and nl.distances.min() == 0:
            k = int(np.argmin(nl.distances))
            raise coincident_error(frame, *sorted((int(nl.i[k]), int(nl.j[k]))))
        r_cut, scale = self.ball(frame, nl)
        weights = self.weights(frame)
        atoms = np.arange(len(frame)) if atoms is None else np.asarray(atoms, dtype=np.int64)
        inside = nl.distances < r_cut
        buffer = None
        for start in range(0, len(atoms), chunk):
            block = atoms[start:start + chunk]
            shape = (len(block), self.channels, self.size, self.size)
            if reuse and buffer is not None and len(buffer) >= len(block):
                maps = buffer[:len(block)]
                maps.fill(0.0)
            else:
                maps = buffer = np.zeros(shape, dtype=np.float32)
            _fill_maps(block, nl.offsets, nl.j, nl.vectors, float(scale), inside, weights,
                       self.size, self.gamma, self.beta, maps)
            yield block, maps


def _refuse_isolated(frame: Frame, nl: NeighborList, has: np.ndarray) -> None:
    if not has.any():
        raise InputError(f"{frame.info.get('source', 'frame')}: no atom has a neighbour within "
                         f"{nl.cutoff:.2f} Å (isolated atoms); a Neighbors Map needs neighbours")


def interior_shell_radii(nl: NeighborList, size: int) -> np.ndarray:
    """Distance (Å) to the ``size``-th nearest neighbour of every atom inside the material:
    atoms whose ``size`` nearest neighbours surround them (centroid within
    :data:`OPEN_SHIFT` of that distance, and that distance within :data:`OPEN_REACH` of the
    median). One statistic of these sets the ball radius, so
    that a free surface does not widen every atom's ball. All atoms count when none is inside
    (a small cluster), and all pair distances when no atom has ``size`` neighbours."""
    enough = nl.counts() >= size
    if not enough.any():
        return nl.distances
    d_n, shift = _shell_and_centroid(nl.offsets[:-1][enough], nl.distances, nl.vectors, size)
    inside = shift <= OPEN_SHIFT * d_n
    if not inside.any():
        return d_n
    # atoms a layer or two below a surface still look surrounded but reach farther for their N
    # neighbours; in bulk crystals and liquids no atom reaches past OPEN_REACH x the median
    d_n = d_n[inside]
    return d_n[d_n <= OPEN_REACH * np.median(d_n)]


def _first_radius(frame: Frame, size: int) -> float:
    """The adaptive search's first radius, Å: the ball that holds ~1.3 ``size`` atoms at the
    frame's mean density (its cell's, or its atoms' extent for a non-periodic frame)."""
    n = len(frame)
    extent = np.ptp(frame.positions, axis=0) + 1.0 if n else np.ones(3)
    volume = frame.volume if frame.pbc.all() else float(np.prod(extent))
    return (3 * (1.3 * size + 1) * volume / (4 * np.pi * max(n, 1))) ** (1 / 3)


class BallScale(Scale):
    """The Neighbors Map's ball radius and length scale (Å) of a frame with the adaptive rule:
    what :meth:`NeighborsMap.ball` finds on the list :meth:`NeighborsMap.find_neighbors`
    grows, from each atom's distance to its N-th and nearest neighbour and the centroid of its
    N nearest."""

    def __init__(self, size: int, scale: float | str | None) -> None:
        self.size, self.scale = size, scale
        self.key = f"map_ball:{size}:{scale!r}"

    def per_atom(self, frame: Frame) -> np.ndarray:
        nearest = nearest_neighbors(frame, self.size)
        n = len(frame)
        d_n, shift = _shell_and_centroid(np.arange(n, dtype=np.int64) * self.size, nearest.distances.ravel(),
                                         nearest.vectors.reshape(-1, 3), self.size)
        return np.column_stack([d_n, shift, nearest.distances[:, 0]])

    def reduce(self, values: np.ndarray, frame: Frame) -> tuple[float, float] | None:
        d_n, shift, nearest = values.T
        n, size = len(frame), self.size
        # the radius the search grows to: 96 % of the atoms with N neighbours inside it
        radius = _first_radius(frame, size)
        for attempt in range(_TRIES):
            if (d_n < radius).mean() >= RCUT_QUANTILE / 100 + 0.01 or not frame.pbc.any() and n <= size:
                break
            if attempt < _TRIES - 1:
                radius *= _GROWTH
        enough = d_n < radius
        if not enough.any():
            return None  # a frame this sparse is not split
        inside = enough & (shift <= OPEN_SHIFT * d_n)
        d = d_n[inside] if inside.any() else d_n[enough]
        if inside.any():
            d = d[d <= OPEN_REACH * np.median(d)]
        r_cut = min(RCUT_FACTOR * float(np.percentile(d, RCUT_QUANTILE)), radius)
        if self.scale is None:
            return r_cut, 1.0
        if self.scale != "auto":
            return r_cut, float(self.scale)
        return r_cut, float(np.median(nearest[nearest < radius]))


@njit(cache=True, parallel=True)
def _shell_and_centroid(starts, distances, vectors, size):
    # distance to the size-th neighbour and length of the neighbours' centroid, for the atoms
    # whose pairs start at ``starts``: the NumPy version gathered (n, size, 3) float64 vectors
    # (768 MB for a million atoms); the sums run in its order, so the values are the same
    n = len(starts)
    d_n = np.empty(n)
    shift = np.empty(n)
    for a in prange(n):
        first = starts[a]
        d_n[a] = distances[first + size - 1]
        x = y = z = 0.0
        for k in range(size):
            x += vectors[first + k, 0]
            y += vectors[first + k, 1]
            z += vectors[first + k, 2]
        x, y, z = x / size, y / size, z / size
        shift[a] = np.sqrt(x * x + y * y + z * z)
    return d_n, shift


#: buckets of the per-row distance sort in the map kernel (~1.5 candidates per bucket)
_BUCKETS = 64


@njit(cache=True, inline="always")
def _pixel(d2, gamma):
    # d^-gamma from the squared distance; coincident atoms are clamped, not infinite.
    # The default gamma = 2 is a division: a pow() per pixel took a third of the map time.
    if gamma == 2.0:
        return 1.0 / max(d2, 1e-12)
    return max(d2, 1e-12) ** (-0.5 * gamma)


@njit(cache=True, parallel=True)
def _fill_maps(atoms, offsets, j, vectors_A, scale, inside, weights, size, gamma, beta, out):
    # vectors_A in Å; each atom's ball is divided by ``scale`` into scratch space, so that no
    # scaled copy of the whole list (24 bytes per pair) is made
    n = len(atoms)
    # ball size of each requested atom (pairs are sorted by distance: the ball is a prefix)
    ball = np.zeros(n, dtype=np.int64)
    for a in range(n):
        i = atoms[a]
        m = 0
        while offsets[i] + m < offsets[i + 1] and inside[offsets[i] + m]:
            m += 1
        ball[a] = m
    biggest = 1 + (ball.max() if n else 0)
    n_blocks = min(n, 512)
    for b in prange(n_blocks):
        # per-block scratch space, so the atom loop allocates nothing
        keys = np.empty(biggest, dtype=np.float32)
        d2 = np.empty(biggest)
        who = np.empty(biggest, dtype=np.int64)
        slot_of_rank = np.empty(biggest, dtype=np.int64)
        bucket = np.empty(biggest, dtype=np.int64)
        starts = np.empty(_BUCKETS + 1, dtype=np.int64)
        vectors = np.empty((biggest, 3))
        for a in range(b * n // n_blocks, (b + 1) * n // n_blocks):
            i = atoms[a]
            first = offsets[i]
            m = ball[a]
            for x in range(m):
                for c in range(3):
                    vectors[x, c] = vectors_A[first + x, c] / scale
            start = 0  # the ball's pairs, scaled, are vectors[0:m]
            radius2 = 0.0  # squared distance to the farthest ball member (the last one)
            if m > 0:
                last = vectors[start + m - 1]
                radius2 = last[0] * last[0] + last[1] * last[1] + last[2] * last[2]
            for nidx in range(min(m, size)):
                v = vectors[start + nidx]
                r2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
                for c in range(weights.shape[0]):
                    out[a, c, 0, nidx] = weights[c, i] * weights[c, j[first + nidx]] * _pixel(r2, gamma)
            for k in range(1, min(m, size - 1) + 1):
                vk = vectors[start + k - 1]
                rk2 = vk[0] * vk[0] + vk[1] * vk[1] + vk[2] * vk[2]
                # candidates: the centre and every other ball atom, ordered by float32 squared
                # distance, equal distances by slot
                q = 0
                d2[q] = rk2
                who[q] = i
                keys[q] = rk2
                q += 1
                for other in range(m):
                    if other == k - 1:
                        continue
                    v = vectors[start + other]
                    dx, dy, dz = v[0] - vk[0], v[1] - vk[1], v[2] - vk[2]
                    d2[q] = dx * dx + dy * dy + dz * dz
                    who[q] = j[first + other]
                    keys[q] = d2[q]
                    q += 1
                # order the ~40 keys: stable bucket sort on the squared distance (every candidate
                # lies within |v_k| + R of j_k, R the ball's radius), then an insertion sort that
                # only fixes order inside buckets (ranking by pairwise compares made the kernel
                # slower). Equal keys keep slot order.
                reach = np.sqrt(rk2) + np.sqrt(radius2)
                per_d2 = _BUCKETS / (reach * reach * 1.0001 + 1e-12)
                starts[:] = 0
                for x in range(q):
                    u = int(keys[x] * per_d2)
                    if u < 0 or u >= _BUCKETS:  # rounding at the far edge
                        u = _BUCKETS - 1
                    bucket[x] = u
                    starts[u + 1] += 1
                for u in range(_BUCKETS):
                    starts[u + 1] += starts[u]
                for x in range(q):
                    slot_of_rank[starts[bucket[x]]] = x
                    starts[bucket[x]] += 1
                for x in range(1, q):
                    slot = slot_of_rank[x]
                    key = keys[slot]
                    y = x - 1
                    while y >= 0 and keys[slot_of_rank[y]] > key:
                        slot_of_rank[y + 1] = slot_of_rank[y]
                        y -= 1
                    slot_of_rank[y + 1] = slot
                alpha = max(rk2, 1e-12) ** (-0.5 / beta)
                jk = j[first + k - 1]
                for nidx in range(min(q, size)):
                    slot = slot_of_rank[nidx]
                    p = _pixel(d2[slot], gamma)
                    for c in range(weights.shape[0]):
                        out[a, c, k, nidx] = alpha * weights[c, jk] * weights[c, who[slot]] * p
