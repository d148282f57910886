"""Classical structure identification through OVITO: adaptive CNA, PTM and IdentifyDiamond.

These are the baselines every structid figure is compared with; each implements the
``classify(frame, neighbors=None) -> Labels`` protocol. OVITO runs headless and multithreaded
and searches its own neighbours: a ``neighbors`` argument serves only structid's own steps
(PTM's rocksalt check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from structid.errors import InputError
from structid.frame import Frame, as_frame, completed_cell
from structid.labels import CODE, Labels
from structid.neighbors import Neighbors, nearest_neighbors, refuse_coincident, resolve

if TYPE_CHECKING:
    from ovito.data import DataCollection

# A non-periodic frame must hold at least this many atoms for the method's neighborhood
# (a-CNA: 14 neighbors of bcc; PTM and IdentifyDiamond: 16 of the diamond templates) + centre.
_MIN_ATOMS = {"acna": 15, "ptm": 17, "diamond": 17}


def to_ovito(frame: Frame) -> DataCollection:
    """An OVITO ``DataCollection`` holding the frame's positions (wrapped), cell, pbc and
    species as named particle types."""
    from ovito.data import DataCollection, ParticleType

    frame = frame.wrapped()
    data = DataCollection()
    cell = completed_cell(frame.cell)
    if not frame.pbc.all() and len(frame):
        # Give non-periodic directions the atoms' extent so that OVITO sees a proper box.
        lengths = np.linalg.norm(frame.cell, axis=1)
        extent = np.ptp(frame.positions, axis=0).max() + 1.0
        cell[lengths <= 0] *= extent
    data.create_cell(np.column_stack([cell.T, frame.origin]), pbc=tuple(bool(p) for p in frame.pbc))
    particles = data.create_particles(count=len(frame))
    particles.create_property("Position", data=frame.positions)
    names, type_index = np.unique(frame.species, return_inverse=True)
    types = particles.create_property("Particle Type", data=type_index.astype(np.int32) + 1)
    for k, name in enumerate(names):
        types.types.append(ParticleType(id=k + 1, name=str(name)))
    return data


def _check_frame(frame: Frame, method: str) -> None:
    where = frame.info.get("source", "frame")
    if len(frame) == 0:
        raise InputError(f"{where}: the frame has no atoms")
    refuse_coincident(frame)
    need = _MIN_ATOMS[method]
    if not frame.pbc.any() and len(frame) < need:
        raise InputError(
            f"{where}: {len(frame)} atoms in a non-periodic frame, {method} needs at least {need} "
            "(a centre and its full neighbor shell)"
        )


def _map_types(raw: np.ndarray, table: dict[int, str]) -> np.ndarray:
    """Vocabulary codes from OVITO structure type ids; ids not in ``table`` become ``other``."""
    lookup = np.full(max(max(table), int(raw.max(initial=0))) + 1, CODE["other"], dtype=np.int16)
    for ovito_id, name in table.items():
        lookup[ovito_id] = CODE[name]
    return lookup[raw]


class AdaptiveCNA:
    """Adaptive common neighbor analysis (Stukowski 2012): fcc, hcp, bcc, ico or other."""

    name = "acna"
    #: how far (first-shell distances) the label of an atom looks: its 14 nearest and their bonds
    reach = 2.5
    classes = ("other", "fcc", "hcp", "bcc", "ico")

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` with adaptive CNA."""
        from ovito.modifiers import CommonNeighborAnalysisModifier as CNA

        frame = as_frame(frame)
        _check_frame(frame, self.name)
        data = to_ovito(frame)
        data.apply(CNA(mode=CNA.Mode.AdaptiveCutoff))
        raw = np.asarray(data.particles["Structure Type"][...])
        table = {int(CNA.Type.OTHER): "other", int(CNA.Type.FCC): "fcc", int(CNA.Type.HCP): "hcp",
                 int(CNA.Type.BCC): "bcc", int(CNA.Type.ICO): "ico"}
        return Labels(codes=_map_types(raw, table), classes=self.classes, method=self.name)


class PTM:
    """Polyhedral template matching (Larsen et al. 2016) with every structure type enabled.

    Args:
        rmsd_cutoff: atoms whose best template fits worse than this RMSD (scale-free units) are
            ``other``; 0 disables the cutoff. OVITO's default is 0.1.
        orderings: in multi-species frames, label B2-ordered bcc atoms ``cscl`` and simple-cubic
            atoms whose six nearest neighbors are all of another species ``rocksalt``.
    """

    name = "ptm"
    #: how far (first-shell distances) the label of an atom looks: up to 18 neighbours, for the
    #: diamond templates the neighbours of its 4 nearest
    reach = 3.0
    classes = ("other", "fcc", "hcp", "bcc", "ico", "sc", "cd", "hd", "graphite", "rocksalt", "cscl")

    def __init__(self, rmsd_cutoff: float = 0.1, orderings: bool = True) -> None:
        if not (np.isfinite(rmsd_cutoff) and rmsd_cutoff >= 0):
            raise InputError(f"`rmsd_cutoff` must be a number >= 0, got {rmsd_cutoff}")
        self.rmsd_cutoff = float(rmsd_cutoff)
        self.orderings = orderings

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` with PTM; ``extra["rmsd"]`` holds each fit's RMSD."""
        from ovito.modifiers import PolyhedralTemplateMatchingModifier as PTMModifier

        frame = as_frame(frame)
        _check_frame(frame, self.name)
        data = to_ovito(frame)
        modifier = PTMModifier(rmsd_cutoff=self.rmsd_cutoff, output_rmsd=True)
        for structure in modifier.structures:
            structure.enabled = True
        binary = self.orderings and len(np.unique(frame.species)) > 1
        modifier.output_ordering = binary
        data.apply(modifier)
        raw = np.asarray(data.particles["Structure Type"][...])
        T = PTMModifier.Type
        table = {int(T.OTHER): "other", int(T.FCC): "fcc", int(T.HCP): "hcp", int(T.BCC): "bcc",
                 int(T.ICO): "ico", int(T.SC): "sc", int(T.CUBIC_DIAMOND): "cd",
                 int(T.HEX_DIAMOND): "hd", int(T.GRAPHENE): "graphite"}
        codes = _map_types(raw, table)
        if binary:
            ordering = np.asarray(data.particles["Ordering Type"][...])
            codes[(codes == CODE["bcc"]) & (ordering == int(PTMModifier.OrderingType.B2))] = CODE["cscl"]
            codes = _mark_rocksalt(frame.wrapped(), codes, resolve(frame, neighbors))
        rmsd = np.asarray(data.particles["RMSD"][...], dtype=np.float32)
        return Labels(codes=codes, classes=self.classes, method=self.name, extra={"rmsd": rmsd})


def _mark_rocksalt(frame: Frame, codes: np.ndarray, neighbors: Neighbors = None) -> np.ndarray:
    """Relabel simple-cubic atoms whose six nearest neighbors all have another species."""
    sc = np.flatnonzero(codes == CODE["sc"])
    if sc.size == 0:
        return codes
    nearest = nearest_neighbors(frame, 6, neighbors=neighbors).indices[sc]
    alternating = np.all(frame.species[nearest] != frame.species[sc, None], axis=1)
    codes = codes.copy()
    codes[sc[alternating]] = CODE["rocksalt"]
    return codes


class IdentifyDiamond:
    """OVITO's diamond identification: cubic (``cd``) and hexagonal (``hd``) diamond.

    Atoms OVITO marks only as first or second neighbors of a diamond atom are ``other``.
    """

    name = "diamond"
    #: how far (first-shell distances) the label of an atom looks: second neighbours and their bonds
    reach = 3.5
    classes = ("other", "cd", "hd")

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` as cd, hd or other."""
        from ovito.modifiers import IdentifyDiamondModifier

        frame = as_frame(frame)
        _check_frame(frame, self.name)
        data = to_ovito(frame)
        data.apply(IdentifyDiamondModifier())
        raw = np.asarray(data.particles["Structure Type"][...])
        T = IdentifyDiamondModifier.Type
        table = {int(T.OTHER): "other", int(T.CUBIC_DIAMOND): "cd", int(T.HEX_DIAMOND): "hd"}
        return Labels(codes=_map_types(raw, table), classes=self.classes, method=self.name)
