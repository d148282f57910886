"""A frame split in space into tiles with halo atoms, so that a frame too big for memory is
labelled a tile at a time with the same result as a whole.

The frame's cell (its atoms' bounding box along non-periodic directions) is cut into a grid
of boxes in fractional coordinates. A tile is the atoms of one box (the atoms it *owns*; every
atom is owned by exactly one tile) and, around them, every atom or periodic image within
``halo`` Å of the box: a method whose answer for an atom depends only on the atoms within
``halo`` of it gives the owned atoms of a tile the labels it gives them in the whole frame.
A tile is non-periodic along the directions that were cut and keeps the frame's periodicity
along the others. Owned atoms come first in a tile, in the frame's order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from structid.errors import InputError
from structid.frame import Frame, completed_cell

#: ``info`` key of a tile: the periodicity of the frame it was cut from (a voxel grid laid
#: over the tile is the frame's; see :class:`~structid.descriptors.order.Region`)
FRAME_PBC = "frame_pbc"


@dataclass(frozen=True)
class Tile:
    """One tile: ``atoms`` (indices into the frame, owned first) placed at their periodic image
    ``shifts`` (cell vectors), of which the first ``n_owned`` are the tile's own."""

    atoms: np.ndarray
    shifts: np.ndarray
    n_owned: int
    cut: np.ndarray  # (3,) bool: directions along which the frame was cut

    @property
    def owned(self) -> np.ndarray:
        """Indices into the frame of the atoms this tile owns."""
        return self.atoms[: self.n_owned]

    def frame(self, frame: Frame, positions: np.ndarray | None = None) -> Frame:
        """The tile as a frame of its own (``positions``: the frame's atoms somewhere else, Å)."""
        where = frame.positions if positions is None else positions
        sub = frame.select(self.atoms)
        placed = where[self.atoms] + self.shifts @ frame.cell
        info = {**frame.info, FRAME_PBC: tuple(bool(p) for p in frame.info.get(FRAME_PBC, frame.pbc))}
        return sub.replace(positions=placed, pbc=frame.pbc & ~self.cut, info=info)


def density_length(frame: Frame) -> float:
    """(volume per atom)^(1/3) in Å, the volume being the cell's along periodic directions and
    the atoms' extent along the others: a little under the nearest-neighbour distance of a
    dense crystal or liquid (fcc 0.89 d, bcc 0.92 d, diamond 1.15 d)."""
    _, _, lengths = _fractional(frame)
    return float((np.prod(np.maximum(lengths, 1e-9)) / max(len(frame), 1)) ** (1 / 3))


def _wrapped(frame: Frame, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractional coordinates of ``positions`` wrapped into [0, 1) along periodic directions,
    and the (n, 3) whole cell shifts that wrapping applied."""
    frac = (positions - frame.origin) @ np.linalg.inv(completed_cell(frame.cell))
    wrap = np.where(frame.pbc, -np.floor(frac), 0.0)
    frac += wrap
    over = frac >= 1.0  # -1e-17 + 1.0
    frac[over] -= 1.0
    wrap[over] -= 1.0
    return frac, wrap.astype(np.int64)


def _fractional(frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractional coordinates (wrapped along periodic directions), each direction's [low, high)
    range and its length in Å (spacing of the lattice planes times the range)."""
    cell = completed_cell(frame.cell)
    frac, _ = _wrapped(frame, frame.positions)
    if len(frame):
        low = np.where(frame.pbc, 0.0, frac.min(axis=0))
        high = np.where(frame.pbc, 1.0, frac.max(axis=0) + 1e-9)
    else:
        low, high = np.zeros(3), np.ones(3)
    volume = abs(np.linalg.det(cell))
    spacing = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return frac, np.stack([low, high]), (high - low) * spacing


class Tiling:
    """The grid of tiles of ``frame`` holding about ``max_atoms`` atoms each, halo included,
    for a halo of ``halo`` Å: the longest direction is cut first, and only as long as a box
    stays at least ``halo`` wide (a narrower box would not hold its own neighbourhood)."""

    def __init__(self, frame: Frame, max_atoms: int, halo: float) -> None:
        if max_atoms < 1:
            raise InputError(f"the atoms per tile must be at least 1, got {max_atoms}")
        if not halo >= 0:
            raise InputError(f"the halo must be a length >= 0 in Å, got {halo}")
        self.frame, self.halo = frame, float(halo)
        _, self.range, lengths = _fractional(frame)
        self.spacing = lengths / np.maximum(self.range[1] - self.range[0], 1e-300)
        n = len(frame)
        # a flat layer of atoms has no extent across it: count the halo there
        density = n / float(np.prod(np.maximum(lengths, max(self.halo, 1e-9))))
        counts = np.ones(3, dtype=int)

        def atoms_per_tile(counts: np.ndarray) -> float:
            side = lengths / counts + np.where(counts > 1, 2 * self.halo, 0.0)
            return density * float(np.prod(np.maximum(side, 1e-9)))

        while n > max_atoms and atoms_per_tile(counts) > max_atoms:
            width = lengths / counts
            # a periodic direction is cut in two at least: its tile must not wrap onto itself
            after = np.where(counts == 1, 2, counts + 1)
            can = lengths / after >= max(self.halo, 1e-9)
            if not can.any():
                raise InputError(f"a tile of at most {max_atoms} atoms cannot hold a halo of "
                                 f"{self.halo:.3g} Å around its atoms; allow more atoms per tile")
            axis = int(np.argmax(np.where(can, width, -1.0)))
            counts[axis] = after[axis]
        self.counts = counts
        self.cut = counts > 1

    def __len__(self) -> int:
        return int(np.prod(self.counts))

    def tiles(self, positions: np.ndarray | None = None, halo: float | None = None) -> Iterator[Tile]:
        """Every tile, for the atoms at ``positions`` (default the frame's; moved atoms change
        owner) and a halo of ``halo`` Å (default the planned one)."""
        frame = self.frame
        halo = self.halo if halo is None else float(halo)
        frac, wrap = _wrapped(frame, frame.positions if positions is None else positions)
        low, high = self.range
        span = (high - low) / self.counts
        pad = halo / self.spacing
        cut = np.flatnonzero(self.cut)
        # which tile each atom is owned by, along each cut direction
        box = np.zeros((len(frac), 3), dtype=int)
        for a in cut:
            box[:, a] = np.clip(np.floor((frac[:, a] - low[a]) / span[a]), 0, self.counts[a] - 1)
        for index in itertools.product(*(range(c) for c in self.counts)):
            index = np.array(index)
            owned = np.flatnonzero((box[:, cut] == index[cut]).all(axis=1))
            # along each cut direction, the images (shift -1, 0, 1) within the padded box
            near = []
            for a in cut:
                lo, hi = low[a] + index[a] * span[a] - pad[a], low[a] + (index[a] + 1) * span[a] + pad[a]
                shifts = (-1, 0, 1) if frame.pbc[a] else (0,)
                near.append([(s, (frac[:, a] + s >= lo) & (frac[:, a] + s < hi)) for s in shifts])
            atoms, shifts = [owned], [wrap[owned]]
            for combo in itertools.product(*near):
                mask = np.ones(len(frac), bool)
                for _, m in combo:
                    mask &= m
                shift = np.zeros(3, dtype=int)
                shift[cut] = [s for s, _ in combo]
                if not shift.any():
                    mask[owned] = False
                members = np.flatnonzero(mask)
                if len(members):
                    atoms.append(members)
                    shifts.append(wrap[members] + shift)
            yield Tile(np.concatenate(atoms), np.concatenate(shifts), len(owned), self.cut.copy())
