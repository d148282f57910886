"""Ideal reference structures and the perturbations used to test and train classifiers.

Every lattice is built from its conventional cell scaled so that the nearest-neighbour distance
is ``nn_distance`` (Å); ``repeat`` replicates the cell. Perturbations return new frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from structid.errors import InputError
from structid.frame import Frame

_SQ3 = np.sqrt(3.0)
_HEX = np.array([[1.0, 0.0, 0.0], [-0.5, _SQ3 / 2, 0.0], [0.0, 0.0, 1.0]])
_FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


@dataclass(frozen=True)
class LatticeSpec:
    """A conventional cell in units of the nearest-neighbour distance."""

    cell: np.ndarray  # rows, nn distance = 1
    basis: np.ndarray  # fractional coordinates
    sublattice: np.ndarray  # index into the species tuple for each basis site
    species: tuple[str, ...]  # default species
    label: str  # the vocabulary name a perfect instance carries


def _spec(cell, basis, sublattice, species, label) -> LatticeSpec:
    return LatticeSpec(np.asarray(cell, float), np.asarray(basis, float),
                       np.asarray(sublattice, int), tuple(species), label)


def _graphite(interlayer: float) -> LatticeSpec:
    a = _SQ3
    return _spec(
        _HEX * [a, a, 2 * interlayer],
        [[0, 0, 0.25], [1 / 3, 2 / 3, 0.25], [0, 0, 0.75], [2 / 3, 1 / 3, 0.75]],
        [0, 0, 0, 0], ("C",), "graphite",
    )


_C_HCP = np.sqrt(8.0 / 3.0)
_A_HD = np.sqrt(8.0 / 3.0)
LATTICES: dict[str, LatticeSpec] = {
    "fcc": _spec(np.eye(3) * np.sqrt(2), _FCC, [0] * 4, ("Cu",), "fcc"),
    "bcc": _spec(np.eye(3) * 2 / _SQ3, [[0, 0, 0], [0.5, 0.5, 0.5]], [0, 0], ("Fe",), "bcc"),
    "hcp": _spec(_HEX * [1, 1, _C_HCP], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]], [0, 0],
                 ("Mg",), "hcp"),
    "sc": _spec(np.eye(3), [[0, 0, 0]], [0], ("Po",), "sc"),
    "cd": _spec(np.eye(3) * 4 / _SQ3, np.vstack([_FCC, _FCC + 0.25]), [0] * 8, ("Si",), "cd"),
    "hd": _spec(
        _HEX * [_A_HD, _A_HD, 8 / 3],
        [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 3 / 8], [2 / 3, 1 / 3, 7 / 8]],
        [0] * 4, ("Si",), "hd",
    ),
    "rocksalt": _spec(np.eye(3) * 2, np.vstack([_FCC, _FCC + [0.5, 0, 0]]), [0] * 4 + [1] * 4,
                      ("Na", "Cl"), "rocksalt"),
    "cscl": _spec(np.eye(3) * 2 / _SQ3, [[0, 0, 0], [0.5, 0.5, 0.5]], [0, 1], ("Cs", "Cl"),
                  "cscl"),
    "fluorite": _spec(np.eye(3) * 4 / _SQ3, np.vstack([_FCC, _FCC + 0.25, _FCC + 0.75]),
                      [0] * 4 + [1] * 8, ("Ca", "F"), "fluorite"),
    # Interlayer spacing of graphite over its C-C bond length: 3.35 Å / 1.42 Å.
    "graphite": _graphite(3.35 / 1.42),
}


def _nearest_distance(cell: np.ndarray, basis: np.ndarray) -> float:
    """Shortest distance between two sites of a periodic cell (rows ``cell``, fractional ``basis``)."""
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    d = (basis[:, None, None, :] - basis[None, :, None, :] + shifts[None, None, :, :]) @ cell
    r = np.linalg.norm(d, axis=-1)
    return float(r[r > 1e-9].min())


def _measured(cell, basis, sublattice, species, symmetry=()) -> LatticeSpec:
    """A cell from crystallographic data (Å, fractional sites; ``symmetry``: functions mapping a
    fractional site to its images) scaled to a nearest-neighbour distance of 1."""
    sites = np.asarray(basis, float)
    kinds = np.asarray(sublattice, int)
    for op in symmetry:
        sites = np.vstack([sites, [op(*p) for p in sites]])
        kinds = np.concatenate([kinds, kinds])
    sites %= 1.0
    # drop the images that land on a site already there
    keep = []
    for k, p in enumerate(sites):
        if not any(np.allclose((p - sites[q] + 0.5) % 1.0 - 0.5, 0, atol=1e-6) for q in keep):
            keep.append(k)
    sites, kinds = sites[keep], kinds[keep]
    cell = np.asarray(cell, float)
    return _spec(cell / _nearest_distance(cell, sites), sites, kinds, species, "unknown")


#: Crystals outside :data:`VOCABULARY <structid.labels.VOCABULARY>`: no model has a class for
#: them, so a right answer is ``unknown`` or ``other`` (``info["label"]`` is ``"unknown"``).
#: Experimental cells at room temperature.
FOREIGN_LATTICES: dict[str, LatticeSpec] = {
    # beta-W (A15, Cr3Si type), Pm-3n: 2a and 6c sites
    "a15": _measured(np.eye(3) * 5.05, [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0, 0.5], [0.75, 0, 0.5],
                                        [0.5, 0.25, 0], [0.5, 0.75, 0], [0, 0.5, 0.25], [0, 0.5, 0.75]],
                     [0] * 8, ("W",)),
    # beta-Sn (A5), I4_1/amd, a = 5.831, c = 3.182 Å: 4a sites of the body-centred tetragonal cell
    "beta-sn": _measured(np.diag([5.831, 5.831, 3.182]),
                         [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.25], [0.5, 0, 0.75]], [0] * 4, ("Sn",)),
    # alpha-U (A20), Cmcm, a = 2.854, b = 5.869, c = 4.955 Å, 4c sites (0, y, 1/4), y = 0.1025
    "alpha-u": _measured(np.diag([2.854, 5.869, 4.955]),
                         [[0, 0.1025, 0.25], [0, -0.1025, 0.75], [0.5, 0.6025, 0.25], [0.5, 0.3975, 0.75]],
                         [0] * 4, ("U",)),
    # ideal beta-cristobalite SiO2 (Fd-3m): Si on a diamond lattice, O halfway along its bonds
    "cristobalite": _measured(
        np.eye(3) * 7.16,
        np.vstack([_FCC, _FCC + 0.25, *[_FCC + np.array(s) / 8 for s in
                                        ([1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1])]]),
        [0] * 8 + [1] * 16, ("Si", "O")),
    # alpha-quartz SiO2, P3_221, a = 4.913, c = 5.405 Å; Si (0.4697, 0, 0), O (0.4135, 0.2669, 0.1191)
    "quartz": _measured(
        _HEX * [4.913, 4.913, 5.405], [[0.4697, 0.0, 0.0], [0.4135, 0.2669, 0.1191]], [0, 1], ("Si", "O"),
        symmetry=(lambda x, y, z: (-y, x - y, z + 2 / 3), lambda x, y, z: (-x + y, -x, z + 1 / 3),
                  lambda x, y, z: (x - y, -y, -z), lambda x, y, z: (y, x, -z + 2 / 3),
                  lambda x, y, z: (-x, -x + y, -z + 1 / 3))),
}


def lattice_spec(name: str) -> LatticeSpec:
    """The cell of a lattice of :data:`LATTICES` or :data:`FOREIGN_LATTICES` by name."""
    spec = LATTICES.get(name) or FOREIGN_LATTICES.get(name)
    if spec is None:
        raise InputError(f"unknown lattice {name!r}; known: {', '.join([*LATTICES, *FOREIGN_LATTICES])}")
    return spec


def lattice(
    name: str,
    nn_distance: float = 2.5,
    repeat: int | tuple[int, int, int] = 4,
    species: str | tuple[str, ...] | None = None,
) -> Frame:
    """A perfect periodic crystal.

    Args:
        name: one of :data:`LATTICES` (fcc, bcc, hcp, sc, cd, hd, rocksalt, cscl, fluorite,
            graphite) or of :data:`FOREIGN_LATTICES` (a15, beta-sn, alpha-u, cristobalite, quartz).
        nn_distance: nearest-neighbour distance in Å (for graphite the in-plane C-C bond; the
            interlayer spacing keeps graphite's ratio 3.35/1.42).
        repeat: replications of the conventional cell along each cell vector.
        species: element(s) of the sublattices; defaults are listed in ``LATTICES``.

    Returns:
        A frame whose ``info["label"]`` is the structure name (``"unknown"`` for the foreign ones).
    """
    spec = lattice_spec(name)
    if not nn_distance > 0:
        raise InputError(f"`nn_distance` must be positive (Å), got {nn_distance!r}")
    reps = np.broadcast_to(np.asarray(repeat, dtype=int), (3,))
    if np.any(reps < 1):
        raise InputError(f"`repeat` must be positive, got {repeat!r}")
    names = spec.species if species is None else ((species,) if isinstance(species, str) else tuple(species))
    if len(names) != len(spec.species):
        raise InputError(f"lattice {name!r} has {len(spec.species)} sublattice(s), got species {names!r}")
    grid = np.stack(np.meshgrid(*(np.arange(r) for r in reps), indexing="ij"), -1).reshape(-1, 3)
    frac = (grid[:, None, :] + (spec.basis % 1.0)[None, :, :]).reshape(-1, 3) / reps
    cell = spec.cell * nn_distance * reps[:, None]
    sites = np.tile(spec.sublattice, len(grid))
    return Frame(
        positions=frac @ cell,
        cell=cell,
        pbc=True,
        species=np.asarray(names)[sites],
        info={"label": spec.label, "lattice": name, "nn_distance": float(nn_distance)},
    )


def _rng(seed: np.random.Generator | int | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def gaussian_noise(frame: Frame, sigma: float, rng: np.random.Generator | int | None = None) -> Frame:
    """Displace every atom by i.i.d. normal noise of standard deviation ``sigma`` (Å) per
    Cartesian component."""
    if sigma < 0:
        raise InputError(f"`sigma` must be non-negative (Å), got {sigma}")
    noise = _rng(rng).normal(0.0, sigma, size=frame.positions.shape)
    return frame.replace(positions=frame.positions + noise).wrapped()


def uniform_noise(frame: Frame, radius: float, rng: np.random.Generator | int | None = None) -> Frame:
    """Displace every atom to a uniformly random point of the ball of ``radius`` (Å) around it."""
    if radius < 0:
        raise InputError(f"`radius` must be non-negative (Å), got {radius}")
    gen = _rng(rng)
    direction = gen.normal(size=frame.positions.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r = radius * gen.random(len(frame)) ** (1.0 / 3.0)
    return frame.replace(positions=frame.positions + direction * r[:, None]).wrapped()


def remove_atoms(frame: Frame, fraction: float, rng: np.random.Generator | int | None = None) -> Frame:
    """Drop a random ``fraction`` (0..1) of the atoms, as in atom-probe data (ids are kept)."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"`fraction` must be in [0, 1), got {fraction}")
    n_remove = int(round(fraction * len(frame)))
    keep = np.ones(len(frame), dtype=bool)
    keep[_rng(rng).choice(len(frame), size=n_remove, replace=False)] = False
    return frame.select(keep)


def random_rotation_matrix(rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3)."""
    q, r = np.linalg.qr(_rng(rng).normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def rotate(frame: Frame, rotation: np.ndarray) -> Frame:
    """Rotate atoms and cell rigidly about the cell origin by the 3x3 matrix ``rotation``."""
    rotation = np.asarray(rotation, dtype=float)
    return frame.replace(
        positions=(frame.positions - frame.origin) @ rotation.T + frame.origin,
        cell=frame.cell @ rotation.T,
    )


def random_rotation(frame: Frame, rng: np.random.Generator | int | None = None) -> Frame:
    """Rotate atoms and cell by a uniformly random rotation."""
    return rotate(frame, random_rotation_matrix(rng))


def strain(frame: Frame, epsilon: float | np.ndarray) -> Frame:
    """Apply a homogeneous strain: a scalar (isotropic), a 3-vector (normal strains along x, y,
    z) or a 3x3 strain tensor; atoms and cell are mapped by ``I + epsilon``."""
    eps = np.asarray(epsilon, dtype=float)
    if eps.ndim == 0:
        eps = np.eye(3) * eps
    elif eps.shape == (3,):
        eps = np.diag(eps)
    elif eps.shape != (3, 3):
        raise InputError(f"`epsilon` must be a scalar, 3 values or a 3x3 tensor, got shape {eps.shape}")
    deformation = np.eye(3) + eps
    return frame.replace(
        positions=(frame.positions - frame.origin) @ deformation.T + frame.origin,
        cell=frame.cell @ deformation.T,
    )
