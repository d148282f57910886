"""The registry of methods: every classifier the CLI, the benchmarks and the test kit can run
by name, and the shipped model each trained method loads by default.

Entries are import paths so that ``import structid`` stays light; new methods join with
:func:`register`. Models never import the shipped weights; this module joins the two.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from structid import pretrained, runtime
from structid.errors import InputError
from structid.labels import Classifier


@dataclass(frozen=True)
class Method:
    """A registered method: ``target`` is ``"module:ClassName"``; a trained method names the
    shipped model it loads when no ``model`` option is given."""

    name: str
    target: str
    description: str
    default_model: str | None = None

    def load_class(self) -> type:
        module_name, class_name = self.target.split(":")
        return getattr(importlib.import_module(module_name), class_name)


_METHODS: dict[str, Method] = {}
#: the denoiser ``--denoise`` uses unless told otherwise
DEFAULT_DENOISER = "denoiser-all"


def register(name: str, target: str, description: str, default_model: str | None = None) -> None:
    """Register ``target`` ("module:ClassName") as ``name``; with ``default_model``, the class
    is a trained model (``load(path, **options)``) and that shipped model is its default."""
    _METHODS[name] = Method(name, target, description, default_model)


def available() -> dict[str, str]:
    """Registered method names and their one-line descriptions."""
    return {name: method.description for name, method in _METHODS.items()}


def method(name: str) -> Method:
    """The registered method ``name``; a clear error lists the others."""
    try:
        return _METHODS[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; available: {', '.join(_METHODS)}") from None


def get_classifier(name: str, **options: Any) -> Classifier:
    """The classifier registered as ``name``. A trained method takes ``model`` (a file or a
    shipped model's name; default its shipped model) and constructor options such as
    ``min_confidence``; a classical one takes its constructor options."""
    entry = method(name)
    cls = entry.load_class()
    accepted = set(inspect.signature(cls).parameters)
    if entry.default_model is not None:
        accepted.add("model")
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise InputError(f"method {name!r} does not take the option(s) {', '.join(unknown)}")
    if entry.default_model is None:
        return cls(**options)
    model = options.pop("model", None)
    return cls.load(pretrained.resolve(model, entry.default_model), **options)


def get_denoiser(model: str | Path | None = None):
    """A trained :class:`~structid.models.denoiser.Denoiser`: the file ``model`` or a shipped
    denoiser's name (default :data:`DEFAULT_DENOISER`)."""
    from structid.models.denoiser import Denoiser

    return Denoiser.load(pretrained.resolve(model, DEFAULT_DENOISER))


def build_pipeline(method: str = "ptm", *, model: str | None = None, min_confidence: float | None = None,
                   neighbor_average: int = 0, denoise: int = 0, denoiser: str | None = None,
                   scale: float | None = None, rmsd_cutoff: float | None = None,
                   check_order: bool = False, max_atoms: int | str | None = None) -> Classifier:
    """The classifier ``structid classify`` runs for these options: ``method`` (with ``model``,
    ``min_confidence``, PTM's ``rmsd_cutoff``), optionally averaged over ``neighbor_average``
    neighbours, its labels checked against the regional order (``check_order``:
    :class:`~structid.models.compose.OrderChecked`), and run on positions denoised ``denoise``
    times (``denoiser``: file or shipped name; ``scale``: a fixed first-shell distance in Å).
    ``max_atoms``: a larger frame is labelled a spatial tile of about this many atoms at a
    time (:class:`~structid.models.compose.Tiled`), with the same labels; ``"auto"``: tiles
    only for a frame too big for the memory this process can use (:func:`atoms_in_memory`).
    Plain data in, so a worker process can rebuild the same pipeline."""
    from structid.models.compose import Denoised, NeighborAveraged, OrderChecked, Tiled

    options: dict[str, Any] = {}
    if rmsd_cutoff is not None:
        if method not in ("ptm", "default"):
            raise InputError("--rmsd-cutoff applies to --method ptm and default only")
        options["rmsd_cutoff"] = rmsd_cutoff
    if model is not None:
        options["model"] = model
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise InputError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    if neighbor_average < 0:
        raise InputError(f"--neighbor-average must be >= 0, got {neighbor_average}")
    if denoise < 0:
        raise InputError(f"--denoise must be >= 0, got {denoise}")
    if denoiser is not None and not denoise:
        raise InputError("--denoiser needs --denoise N")
    if min_confidence is not None and not neighbor_average:
        options["min_confidence"] = min_confidence
    max_atoms = resolve_max_atoms(max_atoms)
    if max_atoms == "auto":
        from structid.models.tiled import SizedToMemory

        def sized(per_tile: int | None) -> Classifier:
            return build_pipeline(method, model=model, min_confidence=min_confidence, neighbor_average=neighbor_average,
                                  denoise=denoise, denoiser=denoiser, scale=scale, rmsd_cutoff=rmsd_cutoff,
                                  check_order=check_order, max_atoms=per_tile)
        return SizedToMemory(sized, atoms_in_memory)
    if method == "default" and max_atoms is not None:
        options["max_atoms"] = max_atoms
    classifier = get_classifier(method, **options)
    if neighbor_average:
        classifier = NeighborAveraged(classifier, neighbor_average, min_confidence=min_confidence or 0.0)
    if check_order:
        if method in ("default", "acna", "ptm", "diamond"):
            why = "has it built into its ML stage" if method == "default" else "labels only what matches its templates"
            raise InputError(f"--check-order applies to the ML methods (nmcnn, less, a model file); {method!r} {why}")
        # each level goes in tiles with its own halo, the model's shorter than the check's
        # (a denoised frame is tiled whole by Denoised)
        own = max_atoms if not denoise and method != "default" else None
        classifier = OrderChecked(classifier if own is None else Tiled(classifier, own), max_atoms=own)
    if denoise:
        # a denoised frame is labelled in tiles too (the default pipeline tiles its own stages)
        classifier = Denoised(get_denoiser(denoiser), classifier, denoise, scale=scale,
                              max_atoms=max_atoms if method != "default" else None)
    elif max_atoms is not None and method != "default" and not check_order:
        classifier = Tiled(classifier, max_atoms)
    return classifier


#: peak memory of the default pipeline on a frame its ML stage labels (a liquid: every stage
#: runs), bytes: per atom of a tile (halo included) and per atom of the whole frame (its labels,
#: probabilities and positions, kept while the tiles run), and what a run holds besides (torch,
#: OVITO, the models). Fitted to a 1,000,188-atom liquid: whole 6,451 MiB, in tiles of 250,000
#: 3,046 MiB (docs/benchmarks.md, "Spatial tiles")
TILE_BYTES_PER_ATOM = 4_800
FRAME_BYTES_PER_ATOM = 1_700
BASE_MEMORY = 512 << 20
#: tiles smaller than this spend most of their time on halos: the floor of ``auto``
MIN_TILE_ATOMS = 20_000


def atoms_in_memory(n_atoms: int, available: int | None = None) -> int | None:
    """Atoms per tile for a frame of ``n_atoms`` atoms to go through the default pipeline in
    ``available`` bytes (default: what this process can use,
    :func:`~structid.runtime.memory_available`) with a fifth to spare: None when the whole
    frame fits (or the memory is not known), else the tile size that does (at least
    :data:`MIN_TILE_ATOMS`)."""
    held = runtime.resident_memory() if available is None else 0
    available = runtime.memory_available() if available is None else available
    if available is None:
        return None
    budget = 0.8 * available - max(BASE_MEMORY - held, 0)  # torch and the models may be loaded already
    if n_atoms * (TILE_BYTES_PER_ATOM + FRAME_BYTES_PER_ATOM) <= budget:
        return None
    return max(int((budget - n_atoms * FRAME_BYTES_PER_ATOM) / TILE_BYTES_PER_ATOM), MIN_TILE_ATOMS)


def resolve_max_atoms(value: int | str | None) -> int | str | None:
    """``--max-atoms``: a number of atoms per tile (>= 1), ``auto`` (sized to each frame and
    the memory available: :func:`atoms_in_memory`) or ``off`` / None (always whole)."""
    if value is None or value == "off":
        return None
    if value == "auto":
        return "auto"
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1 or str(number) != str(value).strip():
        raise InputError(f"--max-atoms must be auto, off or a number of atoms >= 1, got {value!r}")
    return number


#: denoising iterations of the default pipeline (with the default denoiser)
DEFAULT_PIPELINE_ITERATIONS = 8
#: its denoising stops early once no atom moves more than this many first-shell distances in a
#: step: on the realistic Cu and Si samples and the DC3 frames, 1e-2 instead of 1e-3 changed no
#: label of 157,277 atoms and saved a sixth of the steps (docs/benchmarks.md)
DEFAULT_PIPELINE_TOLERANCE = 1e-2


#: neighbours the default pipeline's ML labels are averaged over
DEFAULT_PIPELINE_AVERAGE = 12


#: the glass-aware models the default pipeline splits disordered atoms with: one per chemical
#: system it was trained on, and one for every other frame
GLASS_MODELS: dict[tuple[str, ...], str] = {("Cu", "Zr"): "nmcnn-cuzr"}
DEFAULT_GLASS_MODEL = "nmcnn-metals-glass"
#: an ML crystal atom with fewer crystal atoms than this share among its 32 nearest is a pocket
#: in a glass or liquid, which the glass-aware model labels (measured: Ni glass 91.7 -> 97.4 %,
#: liquid beside nuclei 3.8-4.3 -> 2.7-3.5 % crystalline, DC3 and missing atoms unchanged)
DEFAULT_POCKET_SHARE = 0.7
#: in a frame the ML stage labels and finds under this share crystalline (a liquid or glass
#: with a nucleus, a crystal no model knows), its crystal labels stand only where denoised PTM
#: sees a crystal too (docs/benchmarks.md, "Nuclei seen by the templates")
DEFAULT_CONFIRM_BELOW = 0.5


def default_pipeline(model: str | None = None, *, min_confidence: float = 0.0,
                     rmsd_cutoff: float | None = None, max_atoms: int | str | None = None) -> Classifier:
    """The recommended pipeline (``structid classify`` without ``-m``): PTM (``rmsd_cutoff``) on
    positions denoised by ``denoiser-all`` for crystals, surfaces, defects and boundaries; the
    Neighbors Map CNN (``model``, default nmcnn-metals; probabilities averaged over 12
    neighbours, then ``min_confidence``; labels the regional order contradicts ``unknown``) for
    frames the templates cannot see (atoms missing throughout, liquids, crystals too hot,
    crystals no model knows) and for liquid regions (:class:`~structid.models.compose.Hybrid`).
    With the shipped model, the atoms it finds disordered are split into liquid and amorphous by
    a glass-aware model (:class:`~structid.models.compose.LiquidOrAmorphous`): nmcnn-cuzr for a
    Cu-Zr frame, nmcnn-metals-glass for any other; a ``model`` you name labels them itself.
    PTM's crystals in uniform regions whose bond order is not their lattice's (a crystal no
    template knows, pulled onto a known one by the denoiser) become ``unknown``
    (:class:`~structid.models.compose.SignatureChecked`). Crystal pockets of the ML stage
    inside a glass or liquid take the glass-aware label (``pocket_share``), and in a frame the
    ML stage finds mostly disordered its crystals stand only where PTM sees one too
    (``confirm_below``: a nucleus in its melt). ``max_atoms``: a larger frame goes through
    every stage a spatial tile of about this many atoms at a time, with the same labels
    (:class:`~structid.models.compose.Tiled`)."""
    from structid.models.compose import BySpecies, Denoised, Hybrid, LiquidOrAmorphous, SignatureChecked, Tiled
    from structid.models.tiled import SizedToMemory

    max_atoms = resolve_max_atoms(max_atoms)
    if max_atoms == "auto":
        return SizedToMemory(lambda per_tile: default_pipeline(model, min_confidence=min_confidence, rmsd_cutoff=rmsd_cutoff,
                                                               max_atoms=per_tile), atoms_in_memory)
    crystal = SignatureChecked(Denoised(get_denoiser(), build_pipeline("ptm", rmsd_cutoff=rmsd_cutoff),
                                        DEFAULT_PIPELINE_ITERATIONS, tolerance=DEFAULT_PIPELINE_TOLERANCE,
                                        max_atoms=max_atoms), max_atoms=max_atoms)
    ml = build_pipeline("nmcnn", model=model, neighbor_average=DEFAULT_PIPELINE_AVERAGE,
                        min_confidence=min_confidence or None, check_order=True, max_atoms=max_atoms)
    if model is None:
        def glass_model(name: str) -> Classifier:
            return build_pipeline("nmcnn", model=name, neighbor_average=DEFAULT_PIPELINE_AVERAGE)
        glass = BySpecies({species: glass_model(name) for species, name in GLASS_MODELS.items()},
                          glass_model(DEFAULT_GLASS_MODEL))
        if max_atoms is not None:
            glass = Tiled(glass, max_atoms)
        ml = LiquidOrAmorphous(ml, glass, pocket_share=DEFAULT_POCKET_SHARE, max_atoms=max_atoms)
    hybrid = Hybrid(crystal, ml, confirm_below=DEFAULT_CONFIRM_BELOW, max_atoms=max_atoms)
    hybrid.name = "default"
    return hybrid


def pipeline(spec: str) -> Classifier:
    """The pipeline a name such as ``ptm``, ``nmcnn+avg12+order``, ``ptm+denoise8``,
    ``acna+denoise4@denoiser-dc3`` or ``nmcnn:nmcnn-metals+avg12`` stands for (the method names
    compositions report); ``@`` names the denoiser and ``:`` the method's model (file or shipped
    model)."""
    spec = spec.strip()
    head, _, denoiser = spec.partition("@")
    method, *steps = head.split("+")
    method, _, model = method.partition(":")
    options: dict[str, Any] = {"denoiser": denoiser or None, "model": model or None}
    for step in steps:
        if step == "order":
            options["check_order"] = True
            continue
        for key, prefix in (("denoise", "denoise"), ("neighbor_average", "avg")):
            if step.startswith(prefix) and step[len(prefix):].isdigit():
                options[key] = int(step[len(prefix):])
                break
        else:
            raise InputError(f"pipeline {spec!r}: unknown step {step!r}; steps are denoiseN, avgN and order "
                             "(e.g. ptm+denoise8, nmcnn+avg12+order, ptm+denoise8@denoiser-dc3)")
    if denoiser and not options.get("denoise"):
        raise InputError(f"pipeline {spec!r}: @{denoiser} names a denoiser, add +denoiseN")
    return build_pipeline(method, **options)


register("default", "structid.registry:default_pipeline",
         "recommended: denoised PTM for crystals and defects, NM-CNN for liquids and sparse data")
register("acna", "structid.classical:AdaptiveCNA", "adaptive common neighbor analysis (OVITO)")
register("ptm", "structid.classical:PTM", "polyhedral template matching, all structures (OVITO)")
register("diamond", "structid.classical:IdentifyDiamond", "cubic/hexagonal diamond (OVITO)")
register("nmcnn", "structid.models.nmcnn:NMCNN",
         "Neighbors Map + CNN (shipped nmcnn-metals, or --model FILE)", default_model="nmcnn-metals")
register("less", "structid.models.less:LESS",
         "LESS stacked ensemble on Steinhardt features (shipped less-8, or --model FILE)",
         default_model="less-8")
