"""Starting configurations of realistic samples: what users bring, not bulk periodic crystals.

Free surfaces (slabs with vacuum along z, nanoparticles), point defects (vacancies,
interstitials, Frenkel pairs), dislocations built from the isotropic elastic displacement field,
stacking faults and twins, a Σ5 tilt bicrystal and a Voronoi polycrystal. Every builder returns
an orthorhombic periodic :class:`~structid.frame.Frame` (vacuum where the sample is open) at
the system's 0 K nearest-neighbour distance; ``info["open_axes"]`` lists the axes with vacuum,
so that the MD run controls pressure only along the others. The per-atom truth is not decided
here: it comes from the inherent structure of each thermal snapshot (:mod:`structid.md.truth`).

Oriented crystals come from ASE's lattice builders (``ase.lattice``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import LATTICES
from structid.neighbors import neighbor_list
from structid.md.truth import _in_box
from structid.polycrystal import polycrystal

#: vacuum added along each open axis, Å: more than any potential's cutoff plus a margin
VACUUM = 14.0
#: Poisson's ratio of the isotropic displacement field of a dislocation
POISSON = 0.3

_CUBIC = ("fcc", "bcc", "cd")
#: (x, y, z) directions of a slab whose surface normal is z, per surface name
_SLAB_AXES = {
    "100": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    "110": [[0, 0, 1], [1, -1, 0], [1, 1, 0]],
    "111": [[1, -1, 0], [1, 1, -2], [1, 1, 1]],
    "0001": [[2, -1, -1, 0], [0, 1, -1, 0], [0, 0, 0, 1]],
    "10-10": [[2, -1, -1, 0], [0, 0, 0, -1], [0, 1, -1, 0]],
}
#: slabs per lattice family
SURFACES = {"cubic": ("100", "110", "111"), "hcp": ("0001", "10-10")}
#: (x, y, z) of dislocation cells: z is the line; b is along x (edge) or z (screw)
_DISLOCATION_AXES = {
    ("fcc", "edge"): [[1, -1, 0], [1, 1, 1], [-1, -1, 2]],
    ("fcc", "screw"): [[1, 1, -2], [1, 1, 1], [1, -1, 0]],
    ("bcc", "edge"): [[1, 1, 1], [-1, 1, 0], [-1, -1, 2]],
    ("bcc", "screw"): [[1, 1, -2], [-1, 1, 0], [1, 1, 1]],
}


def lattice_constants(lattice: str, nn_distance: float) -> float | dict:
    """ASE's ``latticeconstant`` for a lattice with nearest-neighbour distance ``nn_distance`` Å."""
    if lattice == "hcp":
        return {"a": nn_distance, "c": nn_distance * np.sqrt(8.0 / 3.0)}
    spec = LATTICES[lattice]
    return float(spec.cell[0, 0] * nn_distance)


def oriented(lattice: str, nn_distance: float, directions, size: tuple[int, int, int],
             symbol: str = "X") -> Frame:
    """A periodic orthorhombic block of ``lattice`` whose cell axes are the Miller
    ``directions`` (three-index, or four-index for hcp), repeated ``size`` times."""
    from ase.lattice.cubic import BodyCenteredCubic, Diamond, FaceCenteredCubic
    from ase.lattice.hexagonal import HexagonalClosedPacked

    builders = {"fcc": FaceCenteredCubic, "bcc": BodyCenteredCubic, "cd": Diamond,
                "hcp": HexagonalClosedPacked}
    if lattice not in builders:
        raise InputError(f"no oriented builder for lattice {lattice!r}; known: {', '.join(builders)}")
    # ASE checks its element symbol; the species is set afterwards
    atoms = builders[lattice](directions=directions, size=size, symbol="Cu", pbc=True,
                              latticeconstant=lattice_constants(lattice, nn_distance))
    frame = Frame.from_ase(atoms)
    return frame.replace(species=np.full(len(frame), symbol), ids=np.arange(1, len(frame) + 1))


def _repeats(frame_unit: Frame, lengths: tuple[float, float, float]) -> tuple[int, int, int]:
    unit = np.diag(frame_unit.cell)
    return tuple(int(max(1, round(length / u))) for length, u in zip(lengths, unit))


def _block(lattice: str, d: float, directions, lengths, symbol: str) -> Frame:
    unit = oriented(lattice, d, directions, (1, 1, 1), symbol)
    return oriented(lattice, d, directions, _repeats(unit, lengths), symbol)


def with_vacuum(frame: Frame, axes: tuple[int, ...], vacuum: float = VACUUM) -> Frame:
    """The atoms of ``frame`` centred in a cell grown by ``vacuum`` Å along each of ``axes``;
    the atoms' bonds across those cell faces are cut (free surfaces)."""
    cell = frame.cell.copy()
    positions = frame.positions.copy()
    for axis in axes:
        lo, hi = positions[:, axis].min(), positions[:, axis].max()
        cell[axis, axis] = hi - lo + vacuum
        positions[:, axis] += vacuum / 2 - lo
    return frame.replace(positions=positions, cell=cell, origin=np.zeros(3),
                         info={**frame.info, "open_axes": tuple(sorted(set(axes)))})


def _renumber(frame: Frame) -> Frame:
    return frame.replace(ids=np.arange(1, len(frame) + 1))


def slab(lattice: str, d: float, surface: str, n_atoms: int, symbol: str = "X") -> Frame:
    """A slab with two free ``surface`` faces (Miller indices of the normal, e.g. ``"111"``,
    hcp ``"0001"``/``"10-10"``) normal to z, about ``n_atoms`` atoms, ~2:2:1 in shape."""
    if surface not in _SLAB_AXES or (lattice == "hcp") != (len(_SLAB_AXES[surface][0]) == 4):
        family = "hcp" if lattice == "hcp" else "cubic"
        raise InputError(f"no {surface} slab for {lattice}; available: {', '.join(SURFACES[family])}")
    side = (n_atoms / _density(lattice, d) / 0.5) ** (1 / 3)
    frame = _block(lattice, d, _SLAB_AXES[surface], (side, side, side / 2), symbol)
    return with_vacuum(frame, (2,))


def _density(lattice: str, d: float) -> float:
    spec = LATTICES[lattice]
    return len(spec.basis) / abs(np.linalg.det(spec.cell * d))


def particle(lattice: str, d: float, n_atoms: int, symbol: str = "X") -> Frame:
    """A spherical nanoparticle of about ``n_atoms`` atoms cut from the perfect crystal, with
    vacuum along every axis."""
    radius = (3 * n_atoms / (4 * np.pi * _density(lattice, d))) ** (1 / 3)
    directions = _SLAB_AXES["0001"] if lattice == "hcp" else _SLAB_AXES["100"]
    block = _block(lattice, d, directions, (2 * radius + 2 * d,) * 3, symbol)
    centre = block.cell.diagonal() / 2
    # centre on an atom so that the particle is symmetric about it
    centre = block.positions[np.argmin(np.linalg.norm(block.positions - centre, axis=1))]
    keep = np.linalg.norm(block.positions - centre, axis=1) <= radius
    return _renumber(with_vacuum(block.select(keep), (0, 1, 2)))


def bulk(lattice: str, d: float, n_atoms: int, symbol: str = "X") -> Frame:
    """A periodic perfect crystal of about ``n_atoms`` atoms."""
    directions = _SLAB_AXES["0001"] if lattice == "hcp" else _SLAB_AXES["100"]
    side = (n_atoms / _density(lattice, d)) ** (1 / 3)
    return _block(lattice, d, directions, (side,) * 3, symbol)


def voids(frame: Frame, count: int, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """(count, 3) points of the largest empty space of a periodic ``frame`` (interstitial
    sites), at least ``spacing`` Å apart."""
    from scipy.spatial import cKDTree

    if count <= 0:
        return np.zeros((0, 3))
    box = frame.cell.diagonal()
    tree = cKDTree(_in_box(frame.positions, box), boxsize=box)
    candidates = rng.random((40 * len(frame), 3)) * box
    room, _ = tree.query(candidates)
    chosen: list[np.ndarray] = []
    for k in np.argsort(-room):
        point = candidates[k]
        if all(np.linalg.norm(_minimum_image(point - c, box)) >= spacing for c in chosen):
            chosen.append(point)
            if len(chosen) == count:
                break
    return np.array(chosen).reshape(-1, 3)


def _minimum_image(delta: np.ndarray, box: np.ndarray) -> np.ndarray:
    return delta - box * np.round(delta / box)


def point_defects(lattice: str, d: float, n_atoms: int, vacancies: float = 0.0,
                  interstitials: float = 0.0, frenkel: float = 0.0, seed: int = 0,
                  symbol: str = "X") -> Frame:
    """A periodic crystal with shares (of the atoms) of vacancies, interstitials at the largest
    voids, and Frenkel pairs (an atom moved from its site into a void at least 3 d away)."""
    rng = np.random.default_rng(seed)
    frame = bulk(lattice, d, n_atoms, symbol)
    n = len(frame)
    n_vac, n_int, n_fp = (int(round(share * n)) for share in (vacancies, interstitials, frenkel))
    moved = rng.choice(n, n_vac + n_fp, replace=False)
    sites = voids(frame, n_int + n_fp, 3 * d, rng)
    keep = np.ones(n, dtype=bool)
    keep[moved] = False
    positions = np.vstack([frame.positions[keep], sites])
    species = np.concatenate([frame.species[keep], np.full(len(sites), symbol)])
    out = Frame(positions=positions, cell=frame.cell, pbc=True, species=species)
    return _renumber(out)


def dislocation(lattice: str, d: float, kind: str, n_atoms: int, symbol: str = "X") -> Frame:
    """A straight ``kind`` ("edge" or "screw") dislocation with Burgers vector 1/2<110> (fcc)
    or 1/2<111> (bcc), line along z through the middle of a column with free surfaces along x
    and y and periodic along the line; atoms are moved by the isotropic elastic field."""
    key = (lattice, kind)
    if key not in _DISLOCATION_AXES:
        raise InputError(f"no {kind} dislocation for {lattice}; available: "
                         + ", ".join(f"{lat} {k}" for lat, k in _DISLOCATION_AXES))
    unit = oriented(lattice, d, _DISLOCATION_AXES[key], (1, 1, 1), symbol)
    length = max(unit.cell[2, 2], 10.0)  # periodic along the line: a few of its periods
    side = np.sqrt(n_atoms / _density(lattice, d) / length)
    frame = oriented(lattice, d, _DISLOCATION_AXES[key], _repeats(unit, (side, side, length)), symbol)
    b = d  # |1/2<110>| in fcc and |1/2<111>| in bcc are the nearest-neighbour distance
    # core between atom rows, so that no atom sits on the cut or at the singular line
    centre = frame.cell.diagonal()[:2] / 2 + np.array([0.26, 0.31]) * d
    x, y = (frame.positions[:, :2] - centre).T
    theta, r2 = np.arctan2(y, x), np.maximum(x * x + y * y, 1e-6)
    u = np.zeros_like(frame.positions)
    if kind == "screw":
        u[:, 2] = b / (2 * np.pi) * theta
    else:
        nu = POISSON
        u[:, 0] = b / (2 * np.pi) * (theta + x * y / (2 * (1 - nu) * r2))
        u[:, 1] = -b / (2 * np.pi) * ((1 - 2 * nu) / (4 * (1 - nu)) * np.log(r2 / b**2)
                                      + (x * x - y * y) / (4 * (1 - nu) * r2))
    moved = frame.replace(positions=frame.positions + u)
    moved = _drop_close(moved, 0.6 * d)
    return _renumber(with_vacuum(moved, (0, 1)))


def _drop_close(frame: Frame, distance: float) -> Frame:
    """Remove one atom of every pair closer than ``distance`` Å."""
    close = neighbor_list(frame, distance)
    keep = np.ones(len(frame), dtype=bool)
    keep[np.unique(np.maximum(close.i, close.j))] = False
    return frame.select(keep)


def stacking(sequence: str, d: float, n_atoms: int, symbol: str = "X") -> Frame:
    """Close-packed layers A, B, C stacked along z in ``sequence`` (periodic: the last layer
    is followed by the first), e.g. ``"ABCABCABABC"`` for an intrinsic stacking fault in fcc
    or ``"ABABABCACAC"`` for basal faults in hcp."""
    if len(sequence) < 2 or set(sequence) - set("ABC") or any(
            a == b for a, b in zip(sequence, sequence[1:] + sequence[0])):
        raise InputError(f"a stacking sequence is A/B/C layers, no two neighbours alike "
                         f"(periodic), got {sequence!r}")
    spacing = d * np.sqrt(2.0 / 3.0)
    per_layer = max(2, n_atoms // len(sequence))
    nx = max(2, int(round(np.sqrt(per_layer / 2 / np.sqrt(3)))))
    ny = max(2, int(round(per_layer / 2 / nx)))
    cell_2d = np.array([d * nx, d * np.sqrt(3) * ny])
    grid = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij"), -1).reshape(-1, 2)
    layer = np.vstack([grid * [d, d * np.sqrt(3)], grid * [d, d * np.sqrt(3)] + [d / 2, d * np.sqrt(3) / 2]])
    shift = {"A": np.zeros(2), "B": np.array([d / 2, d * np.sqrt(3) / 6]),
             "C": np.array([0.0, d * np.sqrt(3) / 3])}
    positions = np.vstack([np.column_stack([(layer + shift[s]) % cell_2d, np.full(len(layer), k * spacing)])
                           for k, s in enumerate(sequence)])
    cell = np.diag([cell_2d[0], cell_2d[1], spacing * len(sequence)])
    return Frame(positions=positions, cell=cell, pbc=True, species=np.full(len(positions), symbol),
                 ids=np.arange(1, len(positions) + 1))


def bicrystal(lattice: str, d: float, n_atoms: int, symbol: str = "X") -> Frame:
    """A periodic Σ5 (310)[001] symmetric tilt bicrystal of a cubic lattice (two boundaries
    normal to z)."""
    if lattice not in _CUBIC:
        raise InputError(f"the Σ5 (310) bicrystal needs a cubic lattice ({', '.join(_CUBIC)}), got {lattice}")
    lower = [[-1, 3, 0], [0, 0, 1], [3, 1, 0]]
    upper = [[1, 3, 0], [0, 0, 1], [3, -1, 0]]
    unit = oriented(lattice, d, lower, (1, 1, 1), symbol)
    side = (n_atoms / _density(lattice, d) / 2) ** (1 / 3)
    size = _repeats(unit, (side, side, side))
    a, b = oriented(lattice, d, lower, size, symbol), oriented(lattice, d, upper, size, symbol)
    if not np.allclose(a.cell, b.cell):
        raise AssertionError("the two grains of the Σ5 bicrystal should have the same cell")
    lz = a.cell[2, 2]
    positions = np.vstack([a.positions, b.positions + [0, 0, lz]])
    cell = a.cell.copy()
    cell[2, 2] = 2 * lz
    frame = Frame(positions=positions, cell=cell, pbc=True, species=np.full(len(positions), symbol))
    return _renumber(_drop_close(frame, 0.6 * d))


def voronoi(lattice: str, d: float, n_atoms: int, grains: int = 6, seed: int = 0,
            symbol: str = "X") -> Frame:
    """A periodic polycrystal of ``grains`` randomly oriented Voronoi grains of ``lattice``."""
    box = (n_atoms / _density(lattice, d)) ** (1 / 3)
    frame = polycrystal((lattice,), box, grains, d, min_distance=0.7, seed=seed)
    return frame.replace(species=np.full(len(frame), symbol), properties={})


#: builder name -> (lattices it applies to, function(lattice, d, n_atoms, seed, symbol) -> Frame)
BUILDERS: dict[str, tuple[tuple[str, ...], Callable[..., Frame]]] = {
    **{f"slab-{s}": (_CUBIC, lambda lat, d, n, seed, sym, s=s: slab(lat, d, s, n, sym))
       for s in SURFACES["cubic"]},
    **{f"slab-{s}": (("hcp",), lambda lat, d, n, seed, sym, s=s: slab(lat, d, s, n, sym))
       for s in SURFACES["hcp"]},
    "particle": (("fcc", "bcc", "hcp", "cd"), lambda lat, d, n, seed, sym: particle(lat, d, n, sym)),
    "vacancies": (("fcc", "bcc", "hcp", "cd"),
                  lambda lat, d, n, seed, sym: point_defects(lat, d, n, vacancies=0.01, seed=seed, symbol=sym)),
    "interstitials": (("fcc", "bcc", "hcp", "cd"),
                      lambda lat, d, n, seed, sym: point_defects(lat, d, n, interstitials=0.005, seed=seed, symbol=sym)),
    "frenkel": (("fcc", "bcc", "hcp", "cd"),
                lambda lat, d, n, seed, sym: point_defects(lat, d, n, frenkel=0.005, seed=seed, symbol=sym)),
    "edge": (("fcc", "bcc"), lambda lat, d, n, seed, sym: dislocation(lat, d, "edge", n, sym)),
    "screw": (("fcc", "bcc"), lambda lat, d, n, seed, sym: dislocation(lat, d, "screw", n, sym)),
    "fault": (("fcc", "hcp"), lambda lat, d, n, seed, sym: stacking(
        "ABCABCABCABABCABCABC" if lat == "fcc" else "ABABABABABCACACACAC", d, n, sym)),
    "twin": (("fcc",), lambda lat, d, n, seed, sym: stacking("ABCABCABCABCACBACBACBACB", d, n, sym)),
    "bicrystal": (_CUBIC, lambda lat, d, n, seed, sym: bicrystal(lat, d, n, sym)),
    # grains of ~1,500 atoms (~35 Å across): smaller ones are mostly boundary after annealing
    "polycrystal": (("fcc", "bcc", "hcp", "cd"),
                    lambda lat, d, n, seed, sym: voronoi(lat, d, 2 * n, grains=4, seed=seed, symbol=sym)),
    "superheated": (("fcc", "bcc", "hcp", "cd"), lambda lat, d, n, seed, sym: bulk(lat, d, n, sym)),
}


def build(name: str, lattice: str, d: float, n_atoms: int, seed: int = 0, symbol: str = "X") -> Frame:
    """The starting configuration ``name`` (a key of :data:`BUILDERS`) of ``lattice``."""
    try:
        lattices, builder = BUILDERS[name]
    except KeyError:
        raise InputError(f"unknown sample {name!r}; available: {', '.join(BUILDERS)}") from None
    if lattice not in lattices:
        raise InputError(f"sample {name!r} is made for {', '.join(lattices)}, not {lattice}")
    frame = builder(lattice, d, n_atoms, seed, symbol)
    return frame.replace(info={"open_axes": (), **frame.info, "sample": name})
