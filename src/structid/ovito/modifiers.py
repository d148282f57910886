"""The two OVITO modifiers (see the package docstring)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from ovito.data import DataCollection, DataTable, ParticleType
from ovito.pipeline import ModifierInterface
from traits.api import Bool, Enum, Float, Int, Str

from structid.errors import InputError
from structid.frame import as_frame, completed_cell
from structid.labels import DISPLAY, VOCABULARY, Labels
from structid.registry import available, build_pipeline, get_denoiser

@lru_cache(maxsize=4)
def _pipeline(**options: Any):
    """A loaded pipeline, kept between frames and between modifiers with the same settings (a
    model file takes seconds to load; a trajectory has hundreds of frames)."""
    return build_pipeline(**options)


@lru_cache(maxsize=2)
def _denoiser(model: str | None):
    return get_denoiser(model)


def _selected(data: DataCollection, only_selected: bool) -> np.ndarray | None:
    """Indices of the selected particles, or None for all."""
    if not only_selected:
        return None
    if "Selection" not in data.particles:
        raise InputError("`only_selected` is set but the particles have no Selection property; "
                         "select particles first (e.g. Expression selection)")
    return np.flatnonzero(np.asarray(data.particles["Selection"][...]) != 0)


def _structure_property(data: DataCollection, codes: np.ndarray, names: list[str]) -> None:
    """OVITO's ``Structure Type`` (int32) with a named, coloured type for each of ``names``."""
    prop = data.particles_.create_property("Structure Type", data=codes.astype(np.int32))
    for name in names:
        title, color = DISPLAY[name]
        prop.types.append(ParticleType(id=VOCABULARY.index(name), name=title, color=color))


#: the names OVITO's PTM modifier gives its counts (``PolyhedralTemplateMatching.counts.FCC``)
_OVITO_COUNT_NAMES = {"sc": "SC", "cd": "CUBIC_DIAMOND", "hd": "HEX_DIAMOND"}


def _attribute_name(name: str) -> str:
    return _OVITO_COUNT_NAMES.get(name, name.upper())


#: OVITO's spelling of structid's per-atom outputs
OVITO_NAMES = {"rmsd": "RMSD", "order": "Order"}


class StructureIdentification(ModifierInterface):
    """Structure identification (structid): label every particle with any registered method
    (OVITO's a-CNA/PTM/diamond, Neighbors Map + CNN, LESS), optionally after denoising and with
    a neighbour average.

    Outputs ``Structure Type`` (typed, OVITO's ids 0-8 and colours, then structid's other
    labels), ``Color`` by type (as OVITO's own modifiers; ``color_by_type``), ``prob_<class>`` for
    methods with probabilities, PTM's ``RMSD``, the regional ``Order`` (``check_order``), the global
    attributes ``StructureIdentification.counts.<TYPE>`` and a bar chart table of the counts.
    Particles left out by ``only_selected`` are ``Other``.
    """

    method = Enum(*available(), label="Method")
    model = Str("", label="Model file or shipped name (empty: the method's default)")
    min_confidence = Float(0.0, label="Minimum confidence (below: Unknown)")
    neighbor_average = Int(0, label="Average probabilities over N neighbours (0: off)")
    check_order = Bool(False, label="Unknown where the regional order contradicts the label (ML methods)")
    denoise_steps = Int(0, label="Denoising steps first (0: off)")
    denoiser = Str("", label="Denoiser file or shipped name (empty: default)")
    scale = Float(0.0, label="First-shell distance in Å for denoising (0: estimated)")
    rmsd_cutoff = Float(0.1, label="PTM RMSD cutoff (0: none)")
    only_selected = Bool(False, label="Use only selected particles")
    color_by_type = Bool(True, label="Color particles by type")

    def classifier(self):
        """The structid classifier these settings describe (loaded once, then cached)."""
        trained = self.method in ("nmcnn", "less") or bool(self.model)
        return _pipeline(method=self.method, model=self.model or None,
                         min_confidence=self.min_confidence if trained or self.neighbor_average else None,
                         neighbor_average=self.neighbor_average, denoise=self.denoise_steps,
                         denoiser=(self.denoiser or None) if self.denoise_steps else None,
                         scale=self.scale or None, rmsd_cutoff=self.rmsd_cutoff if self.method == "ptm" else None,
                         check_order=self.check_order and trained)

    def modify(self, data: DataCollection, frame: int = 0, **kwargs):
        yield f"structid: loading {self.method}"
        classifier = self.classifier()
        selected = _selected(data, self.only_selected)
        system = as_frame(data)
        if selected is not None:
            system = system.select(selected)
        yield f"structid: {classifier.name} on {len(system):,} particles"
        labels = classifier.classify(system)
        yield 0.9
        codes = np.zeros(data.particles.count, dtype=np.int32)
        codes[slice(None) if selected is None else selected] = labels.codes
        shown = [n for n in VOCABULARY if n in labels.classes or n == "other" or np.any(codes == VOCABULARY.index(n))]
        _structure_property(data, codes, shown)
        if self.color_by_type:
            # as OVITO's own structure identification modifiers do
            palette = np.array([DISPLAY[name][1] for name in VOCABULARY], dtype=np.float32)
            data.particles_.create_property("Color", data=palette[codes])
        self._probabilities(data, labels, selected)
        counts = np.bincount(codes, minlength=len(VOCABULARY))
        for name in shown:
            data.attributes[f"StructureIdentification.counts.{_attribute_name(name)}"] = int(counts[VOCABULARY.index(name)])
        table = data.tables.create(identifier="structid-structures", title="Structure counts (structid)",
                                   plot_mode=DataTable.PlotMode.BarChart)
        ids = np.array([VOCABULARY.index(n) for n in shown], dtype=np.int32)
        x = table.create_property("Structure Type", data=ids)
        for name in shown:
            x.types.append(ParticleType(id=VOCABULARY.index(name), name=DISPLAY[name][0], color=DISPLAY[name][1]))
        table.x = x
        table.y = table.create_property("Count", data=counts[ids].astype(np.int64))

    @staticmethod
    def _probabilities(data: DataCollection, labels: Labels, selected: np.ndarray | None) -> None:
        where = slice(None) if selected is None else selected
        if labels.probabilities is not None:
            for k, name in enumerate(labels.classes):
                values = np.zeros(data.particles.count, dtype=np.float32)
                values[where] = labels.probabilities[:, k]
                data.particles_.create_property(f"prob_{name}", data=values)
        for name, extra in labels.extra.items():
            extra = np.asarray(extra)
            if extra.ndim == 1:
                values = np.zeros(data.particles.count, dtype=np.float32)
                values[where] = extra
                data.particles_.create_property(OVITO_NAMES.get(name, name), data=values)


class Denoising(ModifierInterface):
    """Denoising (structid): move every particle towards the ideal lattice site it vibrates
    around with the score-based denoiser (``steps`` iterations r ← r − Δθ(r)).

    Outputs the denoised ``Position``, the total ``Denoising Displacement`` (Å) and a table
    ``structid-denoising`` of the largest step (Å) per iteration, to see it converge.
    """

    steps = Int(8, label="Iterations")
    model = Str("", label="Denoiser file or shipped name (empty: default)")
    scale = Float(0.0, label="First-shell distance in Å (0: estimated every step)")
    tolerance = Float(1e-3, label="Stop when the largest step is below (first-shell distances)")
    only_selected = Bool(False, label="Move only selected particles")

    def modify(self, data: DataCollection, frame: int = 0, **kwargs):
        if self.steps < 0:
            raise InputError(f"`steps` must be >= 0, got {self.steps}")
        yield "structid: loading the denoiser"
        denoiser = _denoiser(self.model or None)
        selected = _selected(data, self.only_selected)
        system = as_frame(data)
        if selected is not None:
            system = system.select(selected)
        yield f"structid: denoising {len(system):,} particles"
        result = denoiser.denoise(system, self.steps, self.tolerance, self.scale or None)
        where = slice(None) if selected is None else selected
        old = np.asarray(data.particles.positions[...])
        # the denoiser returns wrapped positions: keep OVITO's (maybe unwrapped) ones and add the
        # minimum-image displacement
        moved = result.frame.positions - system.positions
        if system.pbc.any():
            cell = completed_cell(system.cell)
            frac = moved @ np.linalg.inv(cell)
            frac[:, system.pbc] -= np.round(frac[:, system.pbc])
            moved = frac @ cell
        displacement = np.zeros_like(old)
        displacement[where] = moved
        data.particles_.positions_[...] = old + displacement
        data.particles_.create_property("Denoising Displacement", data=displacement)
        table = data.tables.create(identifier="structid-denoising", title="Denoising convergence (structid)",
                                   plot_mode=DataTable.PlotMode.Line)
        table.x = table.create_property("Iteration", data=np.arange(1, len(result.max_step) + 1, dtype=np.int32))
        table.y = table.create_property("Largest step (Å)", data=np.asarray(result.max_step, dtype=np.float64))
