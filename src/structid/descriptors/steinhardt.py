"""Steinhardt bond-orientational order parameters q_l with an adaptive cutoff (LESS features).

    q_l(i) = sqrt( 4 pi / (2l + 1) * sum_m | (1/N_i) sum_j Y_lm(r_ij) |^2 )

over the neighbors j of i closer than r_cut(i) = P * mean(distance to i's N nearest neighbors)
(Deng et al. 2023, eqs 1-2). Defaults N = 4, P = 1.2: the mean over the 4 nearest neighbors is
the first-shell distance d in fcc, bcc, hcp, sc, cd, hd, rocksalt, CsCl and fluorite, and 1.2 d
falls at the first minimum of g(r) of all of them: it keeps fcc/hcp's 12, bcc's 8 + 6, sc's 6 and
diamond's 4 neighbors and stops short of fcc's second shell at 1.41 d and diamond's at 1.63 d
(graphite: the mean of 3 bonds and one 1.73 d neighbor, times 1.2, still keeps only the 3 bonds).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.neighbors import CONDENSED_DISTANCE, Neighbors, coincident_error, nearest_neighbors, resolve
from structid.scales import Scale, frame_value

DEFAULT_L = (3, 4, 6, 8, 10, 12)
#: no adaptive cutoff exceeds this multiple of the frame's median cutoff
OPEN_CUTOFF = 2.0


class Steinhardt:
    """Per-atom q_l, plus the same over neighbors of another species only.

    Args:
        ls: the degrees l.
        n_nearest: N of the adaptive cutoff.
        padding: P of the adaptive cutoff.
        cross_species: add the len(ls) values over unlike neighbors (zeros in one-species
            frames and for atoms with no unlike neighbor).
        averaged: add the len(ls) averaged q̄_l of Lechner & Dellago (2008): q_lm averaged over
            the atom and its neighbors before the norm, which separates hot crystals from
            liquids much better than q_l (an extension of the LESS paper's 12 features).

    Feature columns: q_l for each l, then the unlike-species q_l (if ``cross_species``), then
    q̄_l (if ``averaged``).
    """

    def __init__(self, ls: tuple[int, ...] = DEFAULT_L, n_nearest: int = 4, padding: float = 1.2,
                 cross_species: bool = True, averaged: bool = False) -> None:
        if n_nearest < 1 or padding <= 0:
            raise InputError("`n_nearest` must be >= 1 and `padding` > 0")
        self.ls = tuple(int(l) for l in ls)
        self.n_nearest = n_nearest
        self.padding = padding
        self.cross_species = cross_species
        self.averaged = averaged

    @property
    def n_features(self) -> int:
        return len(self.ls) * (1 + self.cross_species + self.averaged)

    def params(self) -> dict:
        """The constructor arguments (what a saved model stores)."""
        return {"ls": self.ls, "n_nearest": self.n_nearest, "padding": self.padding,
                "cross_species": self.cross_species, "averaged": self.averaged}

    def __repr__(self) -> str:
        return "Steinhardt(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Steinhardt) and self.params() == other.params()

    def frame_scales(self) -> list[Scale]:
        """The frame-wide scale the cutoffs depend on (:mod:`structid.scales`)."""
        return [CutoffScale(self.n_nearest, self.padding)]

    def cutoffs(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n,) adaptive cutoff radius of every atom, Å, at most :data:`OPEN_CUTOFF` times the
        median over atoms and at most :data:`~structid.neighbors.CONDENSED_DISTANCE`."""
        r_cut = self._own_cutoffs(frame, neighbors)
        # an isolated atom's own rule would reach across the frame, and every atom's pairs would be
        # searched that far; it gets the cap, and no neighbours inside it (so do the atoms of a gas)
        if not len(r_cut):
            return r_cut
        return np.minimum(r_cut, frame_value(frame, self.frame_scales()[0], lambda: r_cut)["cap"])

    def median_cutoff(self, frame: Frame, neighbors: Neighbors = None) -> float:
        """The median over atoms of :meth:`cutoffs`, Å."""
        return frame_value(frame, self.frame_scales()[0], lambda: self._own_cutoffs(frame, neighbors))["median"]

    def _own_cutoffs(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        nearest = nearest_neighbors(frame, self.n_nearest, neighbors=resolve(frame, neighbors))
        return self.padding * nearest.distances.mean(axis=1)

    def compute(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n, n_features) float64 features (column order in the class docstring).

        ``neighbors``: a list or query (:mod:`structid.neighbors`), used where it reaches far
        enough for the adaptive cutoffs."""
        frame = as_frame(frame)
        if len(frame) == 0:
            return np.zeros((0, self.n_features))
        i, j, vec = self.bonds(frame, neighbors)
        n, nl_ = len(frame), len(self.ls)
        out = np.zeros((n, self.n_features))
        ls = np.array(self.ls, dtype=np.int64)
        offsets = _offsets(i, n)
        qlm = _qlm_kernel(offsets, vec, ls)
        out[:, :nl_] = _norms(qlm, ls)
        if self.cross_species and len(np.unique(frame.species)) > 1:
            unlike = frame.species[i] != frame.species[j]
            cross = _qlm_kernel(_offsets(i[unlike], n), np.ascontiguousarray(vec[unlike]), ls)
            out[:, nl_:2 * nl_] = _norms(cross, ls)
        if self.averaged:
            out[:, -nl_:] = _norms(_average_kernel(offsets, j.astype(np.int64), qlm), ls)
        return out

    def bonds(self, frame: Frame, neighbors: Neighbors = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bonds the q_l are taken over: ``i``, ``j`` (sorted by ``i``) and the (m, 3) float64
        vectors from ``i`` to ``j``, Å, for every pair closer than ``i``'s adaptive cutoff."""
        given = resolve(frame, neighbors)
        r_cut = self.cutoffs(frame, given)
        nl = resolve(frame, given, r_max=float(r_cut.max()) * (1 + 1e-9))
        keep = nl.distances < r_cut[nl.i]
        i, j, vec = nl.i[keep], nl.j[keep], nl.vectors[keep]
        if len(i) and nl.distances[keep].min() == 0:
            # a zero bond vector has no direction: q_l would be NaN
            k = int(np.argmin(nl.distances[keep]))
            raise coincident_error(frame, *sorted((int(i[k]), int(j[k]))))
        return i, j, np.ascontiguousarray(vec, dtype=np.float64)


def _offsets(i: np.ndarray, n: int) -> np.ndarray:
    """CSR offsets of a sorted centre-atom index array."""
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=n), out=offsets[1:])
    return offsets


def _norms(qlm: np.ndarray, ls: np.ndarray) -> np.ndarray:
    """q_l = sqrt(4 pi / (2l + 1) sum_m |q_lm|^2) from the m >= 0 half (real Y_lm symmetry)."""
    out = np.empty((len(qlm), len(ls)))
    start = 0
    for k, l in enumerate(ls):
        block = np.abs(qlm[:, start:start + l + 1]) ** 2
        total = block[:, 0] + 2.0 * block[:, 1:].sum(axis=1)
        out[:, k] = np.sqrt(4.0 * np.pi / (2 * l + 1) * total)
        start += l + 1
    return out


@njit(cache=True, parallel=True)
def _average_kernel(offsets, j, qlm):
    """q̄_lm(i): mean of q_lm over i and its neighbors j (Lechner & Dellago)."""
    n = len(offsets) - 1
    out = np.empty_like(qlm)
    for atom in prange(n):
        total = qlm[atom].copy()
        for k in range(offsets[atom], offsets[atom + 1]):
            total += qlm[j[k]]
        out[atom] = total / (1 + offsets[atom + 1] - offsets[atom])
    return out


@njit(cache=True, parallel=True)
def _qlm_kernel(offsets, vec, ls):
    """(n, sum(l + 1)) complex q_lm = mean over bonds of Y_lm, m = 0..l for each l of ``ls``
    (atoms without bonds get 0)."""
    n = len(offsets) - 1
    lmax = ls.max()
    width = 0
    for l in ls:
        width += l + 1
    out = np.zeros((n, width), dtype=np.complex128)
    # recurrence coefficients of the fully normalised associated Legendre functions
    a = np.zeros((lmax + 1, lmax + 1))
    b = np.zeros((lmax + 1, lmax + 1))
    for l in range(2, lmax + 1):
        for m in range(0, l - 1):
            a[l, m] = np.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
            b[l, m] = np.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1.0) ** 2 - 1.0))
    for atom in prange(n):
        start, stop = offsets[atom], offsets[atom + 1]
        if stop == start:
            continue
        re = np.zeros((lmax + 1, lmax + 1))
        im = np.zeros((lmax + 1, lmax + 1))
        p = np.zeros((lmax + 1, lmax + 1))
        for k in range(start, stop):
            x, y, z = vec[k, 0], vec[k, 1], vec[k, 2]
            r = np.sqrt(x * x + y * y + z * z)
            ct = z / r
            rxy = np.sqrt(x * x + y * y)
            st = rxy / r
            cphi = x / rxy if rxy > 0 else 1.0
            sphi = y / rxy if rxy > 0 else 0.0
            # P~_l^m(cos theta), normalised so that sum_m |Y_lm|^2 = (2l+1)/(4 pi)
            p[0, 0] = 0.28209479177387814  # 1 / sqrt(4 pi)
            for m in range(1, lmax + 1):
                p[m, m] = -np.sqrt((2.0 * m + 1.0) / (2.0 * m)) * st * p[m - 1, m - 1]
            for m in range(0, lmax):
                p[m + 1, m] = np.sqrt(2.0 * m + 3.0) * ct * p[m, m]
            for m in range(0, lmax - 1):
                for l in range(m + 2, lmax + 1):
                    p[l, m] = a[l, m] * (ct * p[l - 1, m] - b[l, m] * p[l - 2, m])
            cm, sm = 1.0, 0.0  # cos(m phi), sin(m phi)
            for m in range(0, lmax + 1):
                for l in range(m, lmax + 1):
                    re[l, m] += p[l, m] * cm
                    im[l, m] += p[l, m] * sm
                cm, sm = cm * cphi - sm * sphi, sm * cphi + cm * sphi
        count = stop - start
        column = 0
        for k in range(len(ls)):
            l = ls[k]
            for m in range(l + 1):
                out[atom, column] = complex(re[l, m], im[l, m]) / count
                column += 1
    return out


class CutoffScale(Scale):
    """The cap of the adaptive cutoffs (:data:`OPEN_CUTOFF` x their median, at most
    :data:`~structid.neighbors.CONDENSED_DISTANCE`) and the median of the capped cutoffs, Å,
    over all atoms of a frame."""

    def __init__(self, n_nearest: int, padding: float) -> None:
        self.n_nearest, self.padding = n_nearest, padding
        self.key = f"steinhardt_cutoff:{n_nearest}:{padding!r}"

    def per_atom(self, frame: Frame) -> np.ndarray:
        return self.padding * nearest_neighbors(frame, self.n_nearest).distances.mean(axis=1)

    def reduce(self, values: np.ndarray, frame: Frame) -> dict[str, float]:
        if not len(values):
            return {"cap": CONDENSED_DISTANCE, "median": float("nan")}
        cap = min(OPEN_CUTOFF * float(np.median(values)), CONDENSED_DISTANCE)
        return {"cap": cap, "median": float(np.median(np.minimum(values, cap)))}
