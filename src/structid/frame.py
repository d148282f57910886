"""The :class:`Frame`: one snapshot of atoms in a (possibly periodic) cell.

Conventions: positions in Å (float64), ``cell`` rows are the three cell vectors in Å, ``origin``
is the cell's lower corner in Å (LAMMPS ``xlo ylo zlo``; ASE's ``celldisp``), ``pbc`` says which
cell directions are periodic. Atoms keep their file order; ``ids`` are the file's atom ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from structid.errors import InputError

if TYPE_CHECKING:
    import ase


@dataclass(frozen=True, eq=False)
class Frame:
    """One atomic configuration.

    Attributes:
        positions: (n, 3) Cartesian coordinates in Å.
        cell: (3, 3) cell vectors as rows, in Å; zeros along non-periodic directions allowed.
        pbc: (3,) periodicity of each cell direction.
        species: (n,) element symbols or type names (str).
        ids: (n,) integer atom ids (1-based when generated).
        origin: (3,) lower corner of the cell in Å.
        properties: extra per-atom columns, each an array of length n (kept from input files).
        info: per-frame metadata (e.g. ``timestep``, ``source``).
    """

    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    species: np.ndarray
    ids: np.ndarray = None  # type: ignore[assignment]
    origin: np.ndarray = None  # type: ignore[assignment]
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.info.get("source", "frame")
        pos = np.ascontiguousarray(self.positions, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise InputError(f"{where}: positions must be an (n, 3) array, got shape {pos.shape}")
        n = len(pos)
        if not np.all(np.isfinite(pos)):
            bad = int(np.flatnonzero(~np.isfinite(pos).all(axis=1))[0])
            raise InputError(
                f"{where}: atom {bad} has a NaN or infinite coordinate; fix or drop that atom"
            )
        cell = np.asarray(self.cell, dtype=np.float64)
        if cell.shape != (3, 3):
            raise InputError(f"{where}: cell must be a 3x3 matrix, got shape {cell.shape}")
        if not np.all(np.isfinite(cell)):
            raise InputError(f"{where}: the cell has NaN or infinite entries")
        pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,)).copy()
        species = np.asarray(self.species).astype(str)
        if species.shape == ():
            species = np.full(n, str(species))
        if species.shape != (n,):
            raise InputError(f"{where}: species must have one entry per atom ({n}), got {species.shape}")
        ids = np.arange(1, n + 1) if self.ids is None else np.asarray(self.ids)
        if ids.shape != (n,):
            raise InputError(f"{where}: ids must have one entry per atom ({n}), got {ids.shape}")
        origin = np.zeros(3) if self.origin is None else np.asarray(self.origin, dtype=np.float64)
        if origin.shape != (3,):
            raise InputError(f"{where}: origin must have 3 entries, got shape {origin.shape}")
        if pbc.any():
            _check_cell(cell, pbc, where)
        for name, values in self.properties.items():
            if len(values) != n:
                raise InputError(f"{where}: property {name!r} has {len(values)} values for {n} atoms")
        object.__setattr__(self, "positions", pos)
        object.__setattr__(self, "cell", cell)
        object.__setattr__(self, "pbc", pbc)
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "ids", ids.astype(np.int64))
        object.__setattr__(self, "origin", origin)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def n_atoms(self) -> int:
        return len(self.positions)

    @property
    def volume(self) -> float:
        """Cell volume in Å^3 (absolute value of the determinant)."""
        return float(abs(np.linalg.det(self.cell)))

    def replace(self, **changes: Any) -> Frame:
        """A copy with some attributes changed (see :func:`dataclasses.replace`)."""
        return replace(self, **changes)

    def select(self, mask: np.ndarray) -> Frame:
        """A frame with only the atoms selected by a boolean mask or an index array."""
        return self.replace(
            positions=self.positions[mask],
            species=self.species[mask],
            ids=self.ids[mask],
            properties={k: np.asarray(v)[mask] for k, v in self.properties.items()},
        )

    def scaled_positions(self) -> np.ndarray:
        """Fractional coordinates relative to ``origin`` and ``cell`` (only meaningful along the
        periodic directions; zero-length non-periodic vectors are replaced by unit normals)."""
        return (self.positions - self.origin) @ np.linalg.inv(completed_cell(self.cell))

    def wrapped(self) -> Frame:
        """A copy with every atom moved into the cell along the periodic directions."""
        if not self.pbc.any():
            return self
        frac = self.scaled_positions()
        shift = np.where(self.pbc, np.floor(frac), 0.0)
        if not shift.any():
            return self
        frac -= shift
        # floor() of -1e-17 gives -1 and frac becomes exactly 1.0: fold that back to 0.
        frac[:, self.pbc] %= 1.0
        positions = frac @ completed_cell(self.cell) + self.origin
        return self.replace(positions=positions)

    def species_names(self) -> list[str]:
        """Distinct species in order of first appearance."""
        _, first = np.unique(self.species, return_index=True)
        return [str(self.species[i]) for i in sorted(first)]

    # -- ASE ---------------------------------------------------------------------------------

    def to_ase(self) -> ase.Atoms:
        """Convert to :class:`ase.Atoms` (ids and extra properties become per-atom arrays).

        Species that are not element symbols (e.g. LAMMPS type numbers) are stored as element
        ``X`` plus an ``arrays["species"]`` column, which :meth:`from_ase` reads back.
        """
        import ase
        from ase.data import atomic_numbers

        known = np.array([s in atomic_numbers for s in np.unique(self.species)])
        atoms = ase.Atoms(
            symbols=self.species.tolist() if known.all() else None,
            numbers=None if known.all() else np.zeros(len(self), dtype=int),
            positions=self.positions,
            cell=self.cell,
            pbc=self.pbc,
            celldisp=self.origin,
        )
        if not known.all():
            atoms.new_array("species", self.species.copy())
        atoms.new_array("id", self.ids.copy())
        for name, values in self.properties.items():
            if name not in atoms.arrays:
                atoms.new_array(name, np.asarray(values).copy())
        atoms.info.update({k: v for k, v in self.info.items() if k != "source"})
        return atoms

    @classmethod
    def from_ase(cls, atoms: ase.Atoms, source: str | None = None) -> Frame:
        """Build a frame from :class:`ase.Atoms`; ids from ``arrays["id"]`` when present."""
        arrays = dict(atoms.arrays)
        species = arrays.pop("species", None)
        if species is None:
            species = np.array(atoms.get_chemical_symbols())
            if len(species) and np.all(species == "X"):
                # structid's extxyz files name non-element species this way (see io.writers)
                for column in ("type_name", "type"):
                    if column in arrays and np.asarray(arrays[column]).ndim == 1:
                        species = np.asarray(arrays.pop(column) if column == "type_name" else arrays[column]).astype(str)
                        break
        ids = arrays.pop("id", None)
        for skip in ("positions", "numbers"):
            arrays.pop(skip, None)
        # Readers such as extxyz move per-atom forces/charges/energies into a calculator.
        results = getattr(atoms.calc, "results", None) or {}
        for name, values in results.items():
            values = np.asarray(values)
            if values.ndim >= 1 and len(values) == len(atoms) and name not in arrays:
                arrays[name] = values
        info = dict(atoms.info)
        if source is not None:
            info["source"] = source
        return cls(
            positions=atoms.get_positions(),
            cell=np.asarray(atoms.cell[:]),
            pbc=np.asarray(atoms.pbc),
            species=species,
            ids=ids,
            origin=np.asarray(atoms.get_celldisp()).reshape(3),
            properties={k: np.asarray(v) for k, v in arrays.items()},
            info=info,
        )


def completed_cell(cell: np.ndarray) -> np.ndarray:
    """The cell with zero-length vectors replaced by unit vectors normal to the others, so that
    it can be inverted (non-periodic directions of a slab or a cluster often have no length)."""
    cell = np.array(cell, dtype=np.float64)
    zero = np.linalg.norm(cell, axis=1) <= 0.0
    if not zero.any():
        return cell
    if zero.sum() == 3:
        return np.eye(3)
    for axis in np.flatnonzero(zero):
        others = [cell[k] for k in range(3) if k != axis and not zero[k]]
        if len(others) == 2:
            normal = np.cross(others[0], others[1])
        else:
            # One defined vector: pick the Cartesian axis least parallel to it, then orthogonalise.
            v = others[0] / np.linalg.norm(others[0])
            e = np.eye(3)[np.argmin(np.abs(v))]
            normal = e - (e @ v) * v
        cell[axis] = normal / np.linalg.norm(normal)
        zero[axis] = False
    return cell


def _check_cell(cell: np.ndarray, pbc: np.ndarray, where: str) -> None:
    """Reject a periodic cell that has zero volume or is nearly singular."""
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(lengths[pbc] <= 0.0):
        axis = "abc"[int(np.flatnonzero(pbc & (lengths <= 0))[0])]
        raise InputError(
            f"{where}: periodic cell vector {axis} has zero length (zero-volume box); "
            "give the box size or mark that direction non-periodic"
        )
    full = completed_cell(cell)
    volume = abs(np.linalg.det(full))
    scale = np.prod(np.linalg.norm(full, axis=1))
    if volume <= 1e-9 * scale:
        raise InputError(
            f"{where}: the cell is singular (volume {volume:.3g} Å^3, cell vectors are "
            "linearly dependent); check the box bounds and tilt factors"
        )


#: what :func:`as_frame` accepts, for error messages
SYSTEM_KINDS = "a structid Frame, an ase.Atoms, an OVITO DataCollection or a (cell, positions[, species]) tuple"


def _class_paths(obj: Any) -> set[str]:
    """``module.Class`` of the object's class and of its bases, so that a system is recognised
    without importing the library it comes from."""
    return {f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__}


def as_frame(system: Any) -> Frame:
    """The :class:`Frame` of any supported system: a ``Frame`` (returned as it is), an
    ``ase.Atoms``, an OVITO ``DataCollection`` (particles, cell and types), or a tuple
    ``(cell, positions)`` / ``(cell, positions, species)`` with a (3, 3) cell in Å (rows are the
    cell vectors, periodic in every direction; an all-zero cell means a non-periodic cluster).
    Raises :class:`InputError` for anything else."""
    if isinstance(system, Frame):
        return system
    paths = _class_paths(system)
    if "ase.atoms.Atoms" in paths:
        return Frame.from_ase(system)
    if any(p.startswith("ovito.") and p.endswith(".DataCollection") for p in paths):
        return _from_ovito(system)
    if isinstance(system, tuple) and len(system) in (2, 3):
        cell = np.asarray(system[0], dtype=np.float64)
        positions = np.asarray(system[1], dtype=np.float64)
        if cell.shape != (3, 3):
            raise InputError(f"`cell` of a (cell, positions) system must be a (3, 3) array, got shape {cell.shape}")
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise InputError(f"`positions` of a (cell, positions) system must be an (n, 3) array, got shape {positions.shape}")
        species = system[2] if len(system) == 3 else "X"
        return Frame(positions=positions, cell=cell, pbc=bool(np.any(cell)), species=species)
    raise InputError(f"cannot use a {type(system).__module__}.{type(system).__qualname__} as a system; give {SYSTEM_KINDS}")


def _from_ovito(data: Any) -> Frame:
    """A frame from an OVITO DataCollection: positions, the simulation cell (its fourth column is
    the origin), pbc, particle types by name (by id when unnamed) and identifiers."""
    particles = data.particles
    if particles is None:
        raise InputError("the OVITO DataCollection holds no particles")
    positions = np.asarray(particles.positions[...], dtype=np.float64)
    n = len(positions)
    if data.cell is not None:
        matrix = np.asarray(data.cell[...], dtype=np.float64)
        cell, origin, pbc = matrix[:, :3].T, matrix[:, 3], np.asarray(data.cell.pbc, dtype=bool)
    else:
        cell, origin, pbc = np.zeros((3, 3)), np.zeros(3), np.zeros(3, dtype=bool)
    species: Any = "X"
    if "Particle Type" in particles:
        types = particles["Particle Type"]
        present, inverse = np.unique(np.asarray(types[...]), return_inverse=True)
        names = {t.id: (t.name or str(t.id)) for t in types.types}
        species = np.array([names.get(int(i), str(int(i))) for i in present])[inverse] if n else []
    atom_ids = np.asarray(particles["Particle Identifier"][...]) if "Particle Identifier" in particles else None
    return Frame(positions=positions, cell=cell, pbc=pbc, species=species, ids=atom_ids, origin=origin,
                 info={"source": "OVITO DataCollection"})
