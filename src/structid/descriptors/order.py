"""Regional bond-orientational order: is the region around an atom a crystal, whichever crystal?

Steinhardt et al. (1983) showed that bond *orientations* keep long-range order in every crystal
and lose it in liquids and glasses: averaged over many bonds, the spherical harmonics of the
bond directions

    Q_lm(i) = sum over atoms j within R of i (i included) of sum over j's bonds b of Y_lm(b)
              / (number of those bonds)
    Q_l(i)  = sqrt( 4 pi / (2l + 1) * sum_m |Q_lm(i)|^2 )

stay large in a crystal region (all bonds point along the same few directions) and fall as
1 / sqrt(bonds) in a disordered one. The largest Q_l over even l = 4 ... 12 is the atom's
*order*. It needs no template and no training: it is high in crystals no model knows (A15,
beta-Sn, alpha-U, cristobalite, quartz, graphite, ice) and low in every liquid and glass, which
is what the out-of-distribution check of :class:`~structid.models.compose.OrderChecked` uses.

Bonds are those of :class:`~structid.descriptors.steinhardt.Steinhardt` (the adaptive cutoff,
1.2 x the mean distance to the 4 nearest neighbours); odd l are left out because every bond is
counted in both directions, which cancels them. The region radius is in first-shell distances
(the frame's median). Measured values (docs/benchmarks.md, "Unknown crystals"): liquids and
glasses at most 0.15 at their 99th percentile, also with half of the atoms missing; crystals at
the melting point 0.37-0.62; ideal fcc 0.575 (its q_6).
"""

from __future__ import annotations

import numpy as np

from structid.descriptors.steinhardt import Steinhardt, _norms, _offsets, _qlm_kernel
from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.neighbors import Neighbors, neighbor_list, resolve

DEFAULT_L = (4, 6, 8, 10, 12)


class RegionalOrder:
    """Per-atom regional bond-orientational order (module docstring).

    Args:
        radius: region radius in first-shell distances (3: about 130 atoms in fcc).
        ls: the even degrees l.
    """

    def __init__(self, radius: float = 3.0, ls: tuple[int, ...] = DEFAULT_L) -> None:
        if not radius > 0:
            raise InputError(f"the region radius must be positive (first-shell distances), got {radius}")
        if not ls or any(l < 2 or l % 2 for l in ls):
            raise InputError(f"the degrees l must be even and at least 2, got {ls}")
        self.radius = float(radius)
        self.ls = tuple(int(l) for l in ls)
        self.bonds = Steinhardt()

    def __repr__(self) -> str:
        return f"RegionalOrder(radius={self.radius}, ls={self.ls})"

    def compute_all(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n, len(ls)) Q_l of the region around every atom (0 where the region has no bond)."""
        frame = as_frame(frame)
        n = len(frame)
        if n == 0:
            return np.zeros((0, len(self.ls)))
        given = resolve(frame, neighbors)
        i, _, vec = self.bonds.bonds(frame, given)
        if len(i) == 0:
            return np.zeros((n, len(self.ls)))
        ls = np.array(self.ls, dtype=np.int64)
        per_atom = np.bincount(i, minlength=n).astype(np.float64)
        # the kernel gives the mean over each atom's bonds; the region sums bonds, not atoms
        sums = _qlm_kernel(_offsets(i, n), vec, ls) * per_atom[:, None]
        first_shell = float(np.median(self.bonds.cutoffs(frame, given))) / self.bonds.padding
        region = _region_matrix(frame, self.radius * first_shell, given)
        bonds = region @ per_atom
        mean = (region @ sums) / np.maximum(bonds, 1.0)[:, None]
        return _norms(mean, ls)

    def compute(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n,) order of every atom: the largest regional Q_l (0 to 1)."""
        return self.compute_all(frame, neighbors).max(axis=1, initial=0.0)


def _region_matrix(frame: Frame, radius: float, neighbors: Neighbors):
    """Sparse (n, n) matrix with a 1 where atom j is within ``radius`` Å of atom i, and on the
    diagonal; periodic images of one atom count once."""
    import scipy.sparse as sparse

    n = len(frame)
    given = resolve(frame, neighbors)
    nl = given.within(radius) if given is not None and given.cutoff >= radius else neighbor_list(frame, radius)
    rows = np.concatenate([nl.i, np.arange(n)])
    cols = np.concatenate([nl.j, np.arange(n)])
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    matrix.data[:] = 1.0  # duplicates (images) were summed
    return matrix
