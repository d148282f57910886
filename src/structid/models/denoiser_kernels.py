"""Compiled inference kernels of the denoiser: its message-passing sums, and the bond vectors
and nearest distances it reads off its pair list.

The message sums are the same arithmetic as ``Message.forward`` in :mod:`structid.models.denoiser_network`, fused
into one pass over each atom's edges. In torch each edge's radial functions, filter, message
and vector term are separate (m, 96) and (m, 3, 32) tensors written to memory and read back,
then scattered with ``index_add_``; most of the denoiser's time went there
(docs/benchmarks.md). Here an edge's terms live in registers and a small scratch array, and
the sums go straight into its atom's row: edges must be grouped by atom (the neighbour list's
order), so atoms are independent and run in parallel without write conflicts. Inference only:
training keeps the torch path, which has gradients.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: atoms per parallel task: one scratch allocation each, and enough tasks to balance threads
ATOMS_PER_TASK = 256


@njit(cache=True, parallel=True, fastmath=True)
def messages(phi: np.ndarray, v: np.ndarray, offsets: np.ndarray, j: np.ndarray, vectors: np.ndarray,
             weight: np.ndarray, bias: np.ndarray, centers: tuple[float, ...], cutoff: float, first: bool,
             s_out: np.ndarray, v_out: np.ndarray) -> None:
    """Add one message-passing layer's sums to ``s_out`` (n, F) and ``v_out`` (n, 3, F).

    ``phi`` (n, 3F): the per-atom MLP output; ``v`` (n, 3, F) vector features; atom ``a``'s
    edges are ``offsets[a]:offsets[a + 1]`` of ``j`` (neighbour index) and ``vectors`` (m, 3,
    bond vectors in first-shell distances); ``weight`` (R, 3F) and ``bias`` (3F) the radial
    filter (its Linear's weight transposed); ``centers`` the R Gaussians' centres as a tuple,
    evenly spaced (the network's ``linspace``). ``first``: the vector features are still zero (no carried term)."""
    # a tuple's length is part of its type: the kernel is compiled (and cached) once per number
    # of radial functions, and the constant trip count lets the compiler unroll the filter's
    # inner loop and vectorise over features (measured 4-6x faster than a run-time count)
    n_rbf = len(centers)
    n = offsets.shape[0] - 1
    features = v.shape[2]
    width = cutoff / n_rbf
    spacing = (centers[n_rbf - 1] - centers[0]) / max(n_rbf - 1, 1)
    # exp(-((r - c_k+1)² - (r - c_k)²) / w²) = exp(2 r Δ / w²) · exp(-(c_k+1² - c_k²) / w²)
    ratio = np.empty(n_rbf)
    for k in range(n_rbf):
        c0 = float(centers[k])
        c1 = c0 + spacing
        ratio[k] = math.exp(-(c1 * c1 - c0 * c0) / (width * width))
    tasks = (n + ATOMS_PER_TASK - 1) // ATOMS_PER_TASK
    for task in prange(tasks):
        rbf = np.empty(n_rbf, dtype=np.float32)
        x = np.empty(3 * features, dtype=np.float32)
        for a in range(task * ATOMS_PER_TASK, min(n, (task + 1) * ATOMS_PER_TASK)):
            for e in range(offsets[a], offsets[a + 1]):
                dx, dy, dz = vectors[e, 0], vectors[e, 1], vectors[e, 2]
                r = math.sqrt(dx * dx + dy * dy + dz * dz)
                inv = 1.0 / max(r, 1e-6)  # two atoms at one position: no direction
                ux, uy, uz = dx * inv, dy * inv, dz * inv
                envelope = 0.5 * (math.cos(math.pi * r / cutoff) + 1.0) if r < cutoff else 0.0
                # Gaussians on evenly spaced centres c_k, by recurrence: two exponentials per
                # edge instead of one per function (they were 40 % of the kernel's time)
                t = (r - centers[0]) / width
                g = math.exp(-t * t) * envelope
                q = math.exp(2.0 * r * spacing / (width * width))
                for k in range(n_rbf):
                    rbf[k] = g
                    g *= q * ratio[k]
                b = j[e]
                for f in range(3 * features):
                    acc = bias[f]
                    for k in range(n_rbf):
                        acc += rbf[k] * weight[k, f]
                    x[f] = acc * phi[b, f]
                for f in range(features):
                    s_out[a, f] += x[f]
                    c = x[2 * features + f]
                    v_out[a, 0, f] += c * ux
                    v_out[a, 1, f] += c * uy
                    v_out[a, 2, f] += c * uz
                if not first:
                    for f in range(features):
                        g = x[features + f]
                        v_out[a, 0, f] += g * v[b, 0, f]
                        v_out[a, 1, f] += g * v[b, 1, f]
                        v_out[a, 2, f] += g * v[b, 2, f]


@njit(cache=True, inline="always")
def _bond(positions, cell, a, b, shift):
    """Bond vector (Å) from atom a to the image ``shift`` (cell vectors) of atom b."""
    x = positions[b, 0] + (shift[0] * cell[0, 0] + shift[1] * cell[1, 0] + shift[2] * cell[2, 0]) - positions[a, 0]
    y = positions[b, 1] + (shift[0] * cell[0, 1] + shift[1] * cell[1, 1] + shift[2] * cell[2, 1]) - positions[a, 1]
    z = positions[b, 2] + (shift[0] * cell[0, 2] + shift[1] * cell[1, 2] + shift[2] * cell[2, 2]) - positions[a, 2]
    return x, y, z


@njit(cache=True, parallel=True)
def nearest_distances(positions: np.ndarray, cell: np.ndarray, offsets: np.ndarray, j: np.ndarray,
                      shifts: np.ndarray, k: int) -> np.ndarray:
    """(n, k) distances (Å) from each atom to its ``k`` nearest listed neighbours, ascending;
    ``inf`` where an atom has fewer."""
    n = offsets.shape[0] - 1
    out = np.full((n, k), np.inf)
    for a in prange(n):
        for e in range(offsets[a], offsets[a + 1]):
            x, y, z = _bond(positions, cell, a, j[e], shifts[e])
            r = math.sqrt(x * x + y * y + z * z)
            if r < out[a, k - 1]:
                m = k - 1
                while m > 0 and out[a, m - 1] > r:
                    out[a, m] = out[a, m - 1]
                    m -= 1
                out[a, m] = r
    return out


@njit(cache=True, parallel=True)
def edges_within(positions: np.ndarray, cell: np.ndarray, offsets: np.ndarray, j: np.ndarray,
                 shifts: np.ndarray, scale: float,
                 cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The listed pairs shorter than ``cutoff`` × ``scale``, grouped by atom as the list is:
    (i, j) as int32, their bond vectors in units of ``scale`` as float32, and the offsets
    (n + 1) of each atom's pairs among them."""
    n = offsets.shape[0] - 1
    counts = np.zeros(n + 1, dtype=np.int64)
    for a in prange(n):
        for e in range(offsets[a], offsets[a + 1]):
            x, y, z = _bond(positions, cell, a, j[e], shifts[e])
            x, y, z = x / scale, y / scale, z / scale
            if x * x + y * y + z * z < cutoff * cutoff:
                counts[a + 1] += 1
    for a in range(n):
        counts[a + 1] += counts[a]
    i_out = np.empty(counts[n], dtype=np.int32)
    j_out = np.empty(counts[n], dtype=np.int32)
    vectors = np.empty((counts[n], 3), dtype=np.float32)
    for a in prange(n):
        q = counts[a]
        for e in range(offsets[a], offsets[a + 1]):
            x, y, z = _bond(positions, cell, a, j[e], shifts[e])
            x, y, z = x / scale, y / scale, z / scale
            if x * x + y * y + z * z < cutoff * cutoff:
                i_out[q], j_out[q] = a, j[e]
                vectors[q, 0], vectors[q, 1], vectors[q, 2] = x, y, z
                q += 1
    return i_out, j_out, vectors, counts
