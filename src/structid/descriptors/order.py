"""Regional bond-orientational order: is the region around an atom a crystal, whichever crystal?

Steinhardt et al. (1983) showed that bond *orientations* keep long-range order in every crystal
and lose it in liquids and glasses: averaged over many bonds, the spherical harmonics of the
bond directions

    Q_lm(i) = sum over atoms j in i's region of sum over j's bonds b of Y_lm(b)
              / (number of those bonds)
    Q_l(i)  = sqrt( 4 pi / (2l + 1) * sum_m |Q_lm(i)|^2 )

stay large in a crystal region (all bonds point along the same few directions) and fall as
1 / sqrt(bonds) in a disordered one. The largest Q_l over even l = 4 ... 12 is the atom's
*order*. It needs no template and no training: it is high in crystals no model knows (A15,
beta-Sn, alpha-U, cristobalite, quartz, graphite, ice) and low in every liquid and glass, which
is what the out-of-distribution check of :class:`~structid.models.compose.OrderChecked` uses.
The Q_l of l = 2 ... 12 over first-shell (``shell``) bonds are also a fingerprint of a lattice:
:func:`mismatch` compares them with the shipped :func:`signatures`.

Bonds are those of :class:`~structid.descriptors.steinhardt.Steinhardt` (the adaptive cutoff,
1.2 x the mean distance to the 4 nearest neighbours) or ``shell`` bonds; odd l are left out
because every bond is counted in both directions, which cancels them. The region is the atoms
within about ``radius`` first-shell distances (the frame's median), on a voxel grid
(:class:`Region`). Measured (docs/benchmarks.md, "Unknown crystals"): liquids and glasses at
most 0.15 at their 99th percentile, also with half of the atoms missing; crystals at the melting
point 0.36-0.57 at their 1st percentile, 0.25 with half of the atoms missing; ideal fcc 0.575
(its q_6).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from structid.descriptors.steinhardt import Steinhardt, _norms, _offsets, _qlm_kernel
from structid.errors import InputError
from structid.frame import Frame, as_frame, completed_cell
from structid.lattices import gaussian_noise, lattice, remove_atoms
from structid.neighbors import (CONDENSED_DISTANCE, NearestDistance, NeighborList, Neighbors, coincident_error, neighbor_list,
                                nn_distance, resolve)
from structid.scales import Scale
from structid.tiles import FRAME_PBC

DEFAULT_L = (4, 6, 8, 10, 12)
#: the degrees of the lattice signatures: l = 2 adds the anisotropy of non-cubic lattices (zero in
#: cubic ones), which tells alpha-U from bcc
SIGNATURE_L = (2, *DEFAULT_L)
#: columns of per-atom values a region sum copies at a time (memory of big frames)
COLUMN_BLOCK = 16
#: the file of :func:`signatures` and :func:`mismatch_thresholds`, in the package; regenerated
#: by ``python -m structid.training.order`` (the signatures are deterministic)
SIGNATURE_FILE = Path(__file__).with_name("order_signatures.json")
#: lattices with a signature, conventional cells per side (a few hundred atoms each)
SIGNATURE_LATTICES = {"fcc": 4, "bcc": 5, "hcp": 4, "cd": 3, "hd": 3, "sc": 6, "graphite": 4, "fluorite": 3}
#: labels whose bonds (species aside) are those of another lattice
SAME_BONDS = {"rocksalt": "sc", "cscl": "bcc"}
#: thermal noise (first-shell distances per coordinate) and shares of atoms missing the
#: signatures span: from a cold crystal to one at its melting point with half of it missing
SIGNATURE_NOISE = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1)
SIGNATURE_MISSING = (0.0, 0.25, 0.5)
#: ``shell`` bonds end at this multiple of the median nearest-neighbour distance: past bcc's
#: second shell (1.155), short of fcc's (1.414), diamond's (1.633) and graphite's (1.732)
SHELL_PADDING = 1.25
#: voxel width of the region grid, first-shell distances
VOXEL = 1.5


class RegionalOrder:
    """Per-atom regional bond-orientational order (module docstring).

    Args:
        radius: region radius in first-shell distances (3: about 130 atoms in fcc).
        ls: the even degrees l.
        bonds: ``adaptive``: each atom's bonds end at its own Steinhardt cutoff (the *order*
            threshold is calibrated on these); ``shell``: every pair closer than
            :data:`SHELL_PADDING` x the frame's median nearest-neighbour distance, the same rule
            for every atom, so that missing atoms remove bonds without adding second-shell ones
            (the lattice *signatures* use these).
    """

    def __init__(self, radius: float = 3.0, ls: tuple[int, ...] = DEFAULT_L, bonds: str = "adaptive") -> None:
        if not radius > 0:
            raise InputError(f"the region radius must be positive (first-shell distances), got {radius}")
        if not ls or any(l < 2 or l % 2 for l in ls):
            raise InputError(f"the degrees l must be even and at least 2, got {ls}")
        if bonds not in ("adaptive", "shell"):
            raise InputError(f"bonds must be 'adaptive' or 'shell', got {bonds!r}")
        self.radius = float(radius)
        self.ls = tuple(int(l) for l in ls)
        self.bonds = bonds
        self._steinhardt = Steinhardt()

    def __repr__(self) -> str:
        return f"RegionalOrder(radius={self.radius}, ls={self.ls}, bonds={self.bonds!r})"

    @property
    def reach(self) -> float:
        """How far (first-shell distances) an atom's order looks: the region (voxel centres
        within ``radius``, each voxel up to half a diagonal from its atoms) and the bonds of its
        atoms (at most the adaptive cutoff, 1.2 x the 4-neighbour mean), with a margin."""
        return self.radius + VOXEL * 3 ** 0.5 + 1.6

    def frame_scales(self) -> list[Scale]:
        """The frame-wide scales the order depends on (:mod:`structid.scales`)."""
        return [*self._steinhardt.frame_scales(), NearestDistance(1)]

    def find_neighbors(self, frame: Frame) -> NeighborList:
        """One neighbour list that serves both bond rules and the region's length scale."""
        r_cut = self._steinhardt.cutoffs(frame)
        # the median of the 4-neighbour means bounds the median nearest distance from above
        shell = SHELL_PADDING * self._steinhardt.median_cutoff(frame) / self._steinhardt.padding
        return neighbor_list(frame, max(float(r_cut.max(initial=0.0)), min(shell, CONDENSED_DISTANCE)) * (1 + 1e-9))

    def region(self, frame: Frame, neighbors: Neighbors = None) -> Region:
        """Every atom's region: the atoms within about ``radius`` first-shell distances (the
        frame's median mean distance to the 4 nearest neighbours), on a grid of voxels
        :data:`VOXEL` first-shell distances wide (:class:`Region`). The same for both bond rules,
        so one serves two :meth:`compute_all` calls."""
        given = resolve(frame, neighbors)
        first_shell = self._steinhardt.median_cutoff(frame, given) / self._steinhardt.padding
        return Region(frame, self.radius * first_shell, VOXEL * first_shell)

    def _bonds(self, frame: Frame, given) -> tuple[np.ndarray, np.ndarray]:
        if self.bonds == "adaptive":
            i, _, vec = self._steinhardt.bonds(frame, given)
            return i, vec
        # a gas has no bonds (as for the adaptive rule): no search across a huge box
        cutoff = min(SHELL_PADDING * nn_distance(frame, 1, given), CONDENSED_DISTANCE)
        nl = given.within(cutoff) if given is not None and given.cutoff >= cutoff else neighbor_list(frame, cutoff)
        if len(nl.i) and nl.distances.min() == 0:
            k = int(np.argmin(nl.distances))  # a zero bond has no direction
            raise coincident_error(frame, *sorted((int(nl.i[k]), int(nl.j[k]))))
        return nl.i, np.ascontiguousarray(nl.vectors, dtype=np.float64)

    def compute_all(self, frame: Frame, neighbors: Neighbors = None, region: Region | None = None) -> np.ndarray:
        """(n, len(ls)) Q_l of the region around every atom (0 where the region has no bond);
        ``region``: the frame's :meth:`region` when it is already at hand."""
        frame = as_frame(frame)
        n = len(frame)
        if n < 2:
            return np.zeros((n, len(self.ls)))
        given = resolve(frame, neighbors)
        i, vec = self._bonds(frame, given)
        if len(i) == 0:
            return np.zeros((n, len(self.ls)))
        ls = np.array(self.ls, dtype=np.int64)
        per_atom = np.bincount(i, minlength=n).astype(np.float64)
        # the kernel gives the mean over each atom's bonds; the region sums bonds, not atoms
        sums = _qlm_kernel(_offsets(i, n), vec, ls)
        sums *= per_atom[:, None]
        region = self.region(frame, given) if region is None else region
        # atoms of one voxel share its region: Q_l per voxel, then per atom
        bonds = region.voxel_sum(per_atom)
        mean = region.voxel_sum(sums) / np.maximum(bonds, 1.0)[:, None]
        return _norms(mean, ls)[region.atom_voxel]

    def compute(self, frame: Frame, neighbors: Neighbors = None, region: Region | None = None) -> np.ndarray:
        """(n,) order of every atom: the largest regional Q_l (0 to 1)."""
        return self.compute_all(frame, neighbors, region).max(axis=1, initial=0.0)


class Region:
    """The region of every atom on a grid of voxels: atom j is in atom i's region when j's voxel
    is one whose centre lies within ``radius`` Å of the centre of i's voxel (periodic directions
    wrap; a voxel reached twice through the periodic images counts once).

    Voxels are about ``voxel`` Å wide along each cell direction. Summing over voxels instead of
    over every pair within ``radius`` costs memory and time in proportion to the atoms: the pair
    list of a 3-distance ball holds ~130 pairs per atom (3 GB for 100,000 atoms).
    """

    def __init__(self, frame: Frame, radius: float, voxel: float) -> None:
        cell = completed_cell(frame.cell)
        frac = frame.scaled_positions()
        volume = abs(np.linalg.det(cell))
        widths = np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])
        periodic = np.asarray(frame.pbc, bool)
        # along a periodic direction a whole number of voxels fills the cell; a tile keeps the
        # grid of the frame it was cut from, so that its atoms' regions are the frame's
        gridded = np.asarray(frame.info.get(FRAME_PBC, periodic), bool)
        scale = np.where(gridded, np.maximum(np.floor(widths / voxel), 1.0), widths / voxel)
        index = np.floor(frac * scale).astype(np.int64)
        size = scale.astype(np.int64)
        index[:, periodic] %= size[periodic]
        low = np.where(periodic, 0, index.min(axis=0, initial=0))
        index -= low
        self.extent = np.where(periodic, size, index.max(axis=0, initial=0) + 1)
        self.periodic = periodic
        keys = self._encode(index)
        self.keys, self.atom_voxel = np.unique(keys, return_inverse=True)
        self.voxels = index[np.unique(self.atom_voxel, return_index=True)[1]]
        self.offsets = self._kernel(cell / scale[:, None], radius)
        # atoms sorted by voxel, and where each voxel's run starts: per-voxel sums by reduceat
        self._order = np.argsort(self.atom_voxel, kind="stable")
        self._starts = np.searchsorted(self.atom_voxel[self._order], np.arange(len(self.keys)))

    def _encode(self, index: np.ndarray) -> np.ndarray:
        return (index[:, 0] * self.extent[1] + index[:, 1]) * self.extent[2] + index[:, 2]

    def _kernel(self, edges: np.ndarray, radius: float) -> np.ndarray:
        """Voxel offsets within ``radius`` of a voxel's centre, deduplicated modulo the
        periodic extents."""
        reach = np.ceil(radius / np.abs(np.linalg.det(edges)) * np.linalg.norm(
            np.cross(edges[[1, 2, 0]], edges[[2, 0, 1]]), axis=1)).astype(int)
        grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), -1).reshape(-1, 3)
        offsets = grid[np.linalg.norm(grid @ edges, axis=1) <= radius]
        wrapped = np.where(self.periodic, offsets % np.maximum(self.extent, 1), offsets)
        return np.unique(wrapped, axis=0)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """(n, ...) sum of ``values`` (one row per atom) over every atom's region."""
        return self.voxel_sum(values)[self.atom_voxel]

    def voxel_sum(self, values: np.ndarray) -> np.ndarray:
        """(voxels, ...) sum of ``values`` (one row per atom) over the region of every voxel
        (its atoms share it: index with ``atom_voxel``). Columns are summed
        :data:`COLUMN_BLOCK` at a time: a million atoms' Y_lm sums would otherwise be copied whole."""
        if values.ndim > 1 and values.shape[1] > COLUMN_BLOCK:
            return np.concatenate([self.voxel_sum(values[:, c:c + COLUMN_BLOCK])
                                   for c in range(0, values.shape[1], COLUMN_BLOCK)], axis=1)
        n_voxels = len(self.keys)
        per_voxel = np.add.reduceat(values[self._order], self._starts, axis=0)
        total = np.zeros_like(per_voxel)
        for offset in self.offsets:
            target = self.voxels + offset
            target[:, self.periodic] %= self.extent[self.periodic]
            inside = np.all((target >= 0) & (target < self.extent), axis=1)
            keys = self._encode(target[inside])
            found = np.minimum(np.searchsorted(self.keys, keys), n_voxels - 1)
            hit = self.keys[found] == keys
            total[np.flatnonzero(inside)[hit]] += per_voxel[found[hit]]
        return total


def compute_signatures(seed: int = 0) -> dict[str, list[list[float]]]:
    """The regional Q_l (:data:`SIGNATURE_L`, radius 3, ``shell`` bonds) of every lattice of
    :data:`SIGNATURE_LATTICES`, one mean vector per noise and missing share, measured on noisy
    lattices (``seed``)."""
    rng = np.random.default_rng(seed)
    order = RegionalOrder(ls=SIGNATURE_L, bonds="shell")
    table = {}
    for name, repeat in SIGNATURE_LATTICES.items():
        ideal = lattice(name, 2.5, repeat)
        rows = []
        for sigma in SIGNATURE_NOISE:
            for missing in SIGNATURE_MISSING:
                frame = gaussian_noise(ideal, sigma * 2.5, rng) if sigma else ideal
                frame = remove_atoms(frame, missing, rng) if missing else frame
                rows.append([round(float(v), 5) for v in order.compute_all(frame).mean(axis=0)])
        table[name] = rows
    return table


def _table() -> dict:
    return json.loads(SIGNATURE_FILE.read_text())


@lru_cache(maxsize=1)
def signatures() -> dict[str, np.ndarray]:
    """Label -> (k, len(SIGNATURE_L)) reference regional Q_l vectors (the shipped table)."""
    return as_references(_table()["signatures"])


def as_references(table: dict[str, list[list[float]]]) -> dict[str, np.ndarray]:
    """Label -> signature array of a table of :func:`compute_signatures`, with the labels of
    :data:`SAME_BONDS` added."""
    arrays = {name: np.array(rows) for name, rows in table.items()}
    return {**arrays, **{label: arrays[same] for label, same in SAME_BONDS.items()}}


@lru_cache(maxsize=1)
def mismatch_thresholds() -> dict[str, float]:
    """Label -> the :func:`mismatch` above which the label does not fit (the shipped table,
    calibrated by :func:`structid.training.order.calibrate_thresholds`)."""
    table = _table()["thresholds"]
    return {**table, **{label: table[same] for label, same in SAME_BONDS.items() if label not in table}}


def mismatch(q: np.ndarray, labels: np.ndarray, references: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(n,) how far each atom's regional Q_l (``q``, (n, len(SIGNATURE_L)), ``shell`` bonds) is
    from every signature of its label (``labels``: structure names): the smallest
    ``|q - a s| / |q|`` over the signatures ``s`` with the best amplitude ``0 <= a <= 1.5``
    (thermal noise damps the Q_l); NaN for a label without signatures. ``references``: label ->
    signatures (default: the shipped :func:`signatures`)."""
    table = signatures() if references is None else references
    out = np.full(len(q), np.nan)
    norm = np.maximum(np.linalg.norm(q, axis=1), 1e-12)
    for label in np.unique(labels):
        refs = table.get(str(label))
        if refs is None:
            continue
        atoms = np.flatnonzero(labels == label)
        x = q[atoms]
        amplitude = np.clip(x @ refs.T / np.einsum("kl,kl->k", refs, refs), 0.0, 1.5)  # (m, k)
        residual = np.linalg.norm(x[:, None, :] - amplitude[..., None] * refs[None], axis=2)
        out[atoms] = residual.min(axis=1) / norm[atoms]
    return out
