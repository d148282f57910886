"""Compositions of methods: denoise then classify, average probabilities over neighbours, check
labels against the region's bond-orientational order, and the hybrid of templates and ML.

Both are classifiers themselves (``classify(frame, neighbors=None) -> Labels``) whose labels
belong to the input atoms, in input order; the method name records the composition
(``ptm+denoise8``, ``nmcnn+avg12``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from structid.descriptors.order import SIGNATURE_L, RegionalOrder, mismatch, mismatch_thresholds
from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.labels import CODE, CRYSTALLINE_CODES, VOCABULARY, Classifier, Labels
from structid.models.denoiser import Denoiser
from structid.models.tiled import Tiled, crystal_share, in_tiles, knn_reach, reach_of
from structid.neighbors import NeighborList, Neighbors, nearest_neighbors, resolve
from structid.scales import Species, frame_value


def _own_neighbors(classifier: Classifier, frame: Frame, neighbors: Neighbors = None) -> NeighborList | None:
    """The list a composition shares with ``classifier``: the one given, else the classifier's
    own (:meth:`find_neighbors`), else None (it has no single one, or the frame is empty)."""
    shared = resolve(frame, neighbors)
    find = getattr(classifier, "find_neighbors", None)
    if shared is None and find is not None and len(frame):
        shared = find(frame)
    return shared


def _misfits(q: np.ndarray, names: np.ndarray, limit: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mismatch, whether it exceeds the limit) of atoms whose regional signature Q_l are ``q``
    and whose labels are ``names``; ``limit``: one threshold for all, default each label's
    calibrated one. A label without a signature has NaN mismatch and is never a misfit."""
    distance = mismatch(q, names)
    if limit is None:
        table = mismatch_thresholds()
        limit = np.array([table.get(str(name), np.inf) for name in names])
    return distance, distance > limit  # NaN compares False


class Denoised:
    """Denoise a frame with ``iterations`` steps of ``denoiser``, then label the denoised
    positions with ``classifier``. A neighbour list given to :meth:`classify` serves the
    denoiser's first step (the classifier sees moved atoms and searches again). ``scale``: a
    fixed first-shell distance in Å (default: estimated before every step); ``tolerance``:
    fewer steps when the largest one is below this many first-shell distances; ``max_atoms``:
    a larger frame is denoised and labelled a spatial tile at a time (:class:`Tiled`), with
    the same labels."""

    def __init__(self, denoiser: Denoiser, classifier: Classifier, iterations: int = 8,
                 scale: float | None = None, tolerance: float = 1e-3, max_atoms: int | None = None) -> None:
        if iterations < 0:
            raise InputError(f"the number of denoising iterations must be >= 0, got {iterations}")
        if scale is not None and not scale > 0:
            raise InputError(f"the first-shell distance must be a positive length in Å, got {scale}")
        self.denoiser, self.classifier, self.iterations = denoiser, classifier, iterations
        self.scale, self.tolerance, self.max_atoms = scale, tolerance, max_atoms
        self.name = f"{getattr(classifier, 'name', 'classifier')}+denoise{iterations}"

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` from its denoised position."""
        frame = as_frame(frame)
        denoised = self.denoiser.denoise(frame, self.iterations, self.tolerance, scale=self.scale,
                                         neighbors=neighbors, max_atoms=self.max_atoms).frame
        classifier = self.classifier if self.max_atoms is None else Tiled(self.classifier, self.max_atoms)
        return replace(classifier.classify(denoised), method=self.name)


class NeighborAveraged:
    """Average a probabilistic classifier's per-atom probabilities over each atom's nearest
    neighbours before taking the most likely class.

    A per-atom classifier decides from one neighbourhood; in a crystal near its melting point a
    few atoms sit in a strongly distorted one while the shell around them is still crystalline,
    and a liquid briefly holds crystal-like clusters. Averaging removes those isolated misses;
    the price is spatial resolution of about one neighbour shell (a lone atom unlike all its
    neighbours takes their label; a twin plane one layer thick keeps its own, half of each of
    its atoms' 12 neighbours sharing it).

    Each atom's probabilities become ``(p_i + weight * mean_j p_j) / (1 + weight)`` over its
    ``neighbors`` nearest atoms (periodic images included), then the most likely class, or
    ``unknown`` below ``min_confidence``; an atom the classifier gave no probability (isolated)
    keeps none and stays ``other``. The classifier and the average share one neighbour
    search when the classifier says which list it uses (``find_neighbors``).
    """

    def __init__(self, classifier: Classifier, neighbors: int = 12, weight: float = 1.0,
                 min_confidence: float = 0.0) -> None:
        if neighbors < 1:
            raise InputError(f"the number of neighbours to average over must be at least 1, got {neighbors}")
        if weight < 0:
            raise InputError(f"the neighbours' weight must be >= 0, got {weight}")
        if not 0 <= min_confidence <= 1:
            raise InputError(f"min_confidence must be between 0 and 1, got {min_confidence}")
        self.classifier, self.neighbors, self.weight = classifier, neighbors, weight
        self.min_confidence = min_confidence
        self.name = f"{getattr(classifier, 'name', 'classifier')}+avg{neighbors}"

    @property
    def reach(self) -> float:
        """How far (first-shell distances) a label looks: the classifier's, from every neighbour."""
        return reach_of(self.classifier) + knn_reach(self.neighbors)

    @property
    def classes_(self) -> tuple[str, ...]:
        """The classes of the averaged classifier."""
        return tuple(self.classifier.classes_)

    def find_neighbors(self, frame: Frame) -> NeighborList | None:
        """The averaged classifier's neighbour list (None: it has no single one)."""
        return _own_neighbors(self.classifier, frame)

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` from its own and its neighbours' probabilities."""
        frame = as_frame(frame)
        shared = _own_neighbors(self.classifier, frame, neighbors)
        labels = self.classifier.classify(frame, neighbors=shared)
        if labels.probabilities is None:
            raise InputError(f"method {labels.method or self.classifier!r} gives no probabilities to "
                             "average; use an ML method (nmcnn, less)")
        if len(frame) == 0:
            return replace(labels, method=self.name)
        own = labels.probabilities
        around = own[nearest_neighbors(frame, self.neighbors, neighbors=shared).indices].mean(axis=1)
        probabilities = (own + self.weight * around) / (1.0 + self.weight)
        # an atom the classifier could not see (isolated: no probability) has no neighbours to
        # share a label with; its "nearest" atoms may be far away
        probabilities[~own.any(axis=1)] = 0.0
        return Labels.from_probabilities(np.asarray(probabilities), labels.classes, self.min_confidence,
                                         method=self.name, extra=labels.extra)


#: regional order (:mod:`structid.descriptors.order`) that separates crystal regions from liquid
#: and glass ones: on held-out DC3 frames liquids stay below 0.15 at their 99th percentile (0.17
#: at the 99.9th, half of the atoms missing included), crystals at their melting point above 0.36
#: at their 1st percentile (0.25 with half of the atoms missing) (docs/benchmarks.md)
ORDERED = 0.2
class OrderChecked:
    """A classifier's labels, with the ones the region's order contradicts made ``unknown``.

    An ML model has a class for every structure it was trained on and nothing else: an unknown
    crystal gets the label of whichever known structure it resembles, most often ``liquid``, with
    a probability near 1, and a glass may come out as a crystal. The regional bond-orientational
    order (:class:`~structid.descriptors.order.RegionalOrder`) tells ordered regions from
    disordered ones without any model, and its Q_l of l = 2 ... 12 over first-shell bonds are a
    fingerprint of the crystal. An atom becomes ``unknown`` when

    * it is ``liquid`` or ``amorphous`` in a region with order of at least ``ordered`` (a crystal
      the model does not know);
    * it is crystalline in a region below ``ordered`` (a glass or liquid taken for a crystal);
    * its crystal label has a signature (fcc, bcc, hcp, cd, hd, sc, graphite, fluorite; rocksalt
      and CsCl by their bonds) that the region's Q_l miss by more than the label's threshold
      (another crystal; :func:`~structid.descriptors.order.mismatch_thresholds`, calibrated on
      known crystals up to their melting point, half of the atoms missing included), or by more
      than ``mismatch`` when given.

    ``other`` and ``unknown`` stay. The order goes to ``extra["order"]``; probabilities stay the
    model's. ``max_atoms``: on a larger frame the check runs a spatial tile of about this many
    atoms at a time, with the same result (give ``classifier`` its own :class:`Tiled`).
    """

    def __init__(self, classifier: Classifier, ordered: float = ORDERED, mismatch: float | None = None,
                 radius: float = 3.0, max_atoms: int | None = None) -> None:
        if not 0 < ordered < 1:
            raise InputError(f"the order threshold must be between 0 and 1, got {ordered}")
        if mismatch is not None and not mismatch > 0:
            raise InputError(f"the signature mismatch threshold must be positive, got {mismatch}")
        self.classifier, self.ordered, self.mismatch = classifier, ordered, mismatch
        self.max_atoms = max_atoms
        self.order = RegionalOrder(radius)
        self.signature = RegionalOrder(radius, ls=SIGNATURE_L, bonds="shell")
        self.name = f"{getattr(classifier, 'name', 'classifier')}+order"

    @property
    def reach(self) -> float:
        """How far (first-shell distances) a label looks: the classifier's, or the region's."""
        return max(reach_of(self.classifier), self.order.reach)

    @property
    def classes_(self) -> tuple[str, ...]:
        """The classes of the checked classifier."""
        return tuple(self.classifier.classes_)

    def find_neighbors(self, frame: Frame) -> NeighborList:
        """The classifier's neighbour list when it has one (the order's bonds are shorter than
        any classifier's neighbourhood), else one for the order alone: one search serves both."""
        find = getattr(self.classifier, "find_neighbors", None)
        found = find(frame) if find is not None else None
        return found if found is not None else self.order.find_neighbors(frame)

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` with the classifier, then check the labels."""
        frame = as_frame(frame)
        if len(frame) < 2:
            labels = self.classifier.classify(frame, neighbors=neighbors)
            return replace(labels, method=self.name, extra={**labels.extra, "order": np.zeros(len(frame))})
        if self.max_atoms is not None and len(frame) > self.max_atoms:
            # no list of the whole frame: the classifier and the check each go a tile at a time
            labels = self.classifier.classify(frame, neighbors=neighbors)
            scales = [*self.order.frame_scales(), *self.signature.frame_scales()]
            codes, order = in_tiles(frame, self.max_atoms, self.order.reach, scales, self._check,
                                    np.asarray(labels.codes))
        else:
            neighbors = self.find_neighbors(frame) if resolve(frame, neighbors) is None else neighbors
            labels = self.classifier.classify(frame, neighbors=neighbors)
            codes, order = self._check(frame, np.asarray(labels.codes), neighbors)
        return replace(labels, codes=codes, method=self.name, extra={**labels.extra, "order": order})

    def _check(self, frame: Frame, codes: np.ndarray, neighbors: Neighbors = None) -> tuple[np.ndarray, np.ndarray]:
        """(codes, regional order) of ``frame``'s atoms labelled ``codes`` after the check."""
        neighbors = self.order.find_neighbors(frame) if resolve(frame, neighbors) is None else neighbors
        region = self.order.region(frame, neighbors)
        order = self.order.compute(frame, neighbors, region)
        codes = codes.copy()
        disordered = np.isin(codes, [CODE["liquid"], CODE["amorphous"]])
        crystal = np.isin(codes, CRYSTALLINE_CODES)
        ordered = order >= self.ordered
        misfit = np.zeros(len(codes), bool)
        if (crystal & ordered).any():
            atoms = np.flatnonzero(crystal & ordered)
            q = self.signature.compute_all(frame, neighbors, region)[atoms]
            misfit[atoms] = _misfits(q, np.asarray(VOCABULARY)[codes[atoms]], self.mismatch)[1]
        codes[(disordered & ordered) | (crystal & ~ordered) | misfit] = CODE["unknown"]
        return codes, order


class SignatureChecked:
    """A classifier's crystal labels, with those of uniform crystal regions whose bond order is
    not the label's made ``unknown``: a crystal no template or model knows, taken for the
    nearest known one.

    Denoising pulls any crystal towards the lattices the denoiser knows, so that PTM then finds
    a known crystal everywhere in one it does not know (alpha-U becomes hcp). The regional
    Q_l signature (:class:`OrderChecked`'s third rule) of the *given* positions tells: an atom
    whose region (the atoms within about ``radius`` first-shell distances) carries its crystal
    label to at least ``uniform`` and whose region's Q_l miss the label's signature by more than
    its calibrated threshold becomes ``unknown``. Only uniform regions are checked: near a grain
    or twin boundary, a stacking fault or a defect the region mixes orientations or stackings
    and its signature fits no single lattice, while the labels there are right (measured:
    docs/benchmarks.md, "Unknown crystals"). The mismatch goes to ``extra["mismatch"]`` (NaN
    where not checked).
    """

    def __init__(self, classifier: Classifier, uniform: float = 0.95, radius: float = 3.0,
                 max_atoms: int | None = None) -> None:
        if not 0 < uniform <= 1:
            raise InputError(f"the uniform share must be in (0, 1], got {uniform}")
        self.classifier, self.uniform, self.max_atoms = classifier, uniform, max_atoms
        self.signature = RegionalOrder(radius, ls=SIGNATURE_L, bonds="shell")
        self.name = f"{getattr(classifier, 'name', 'classifier')}+signature"

    @property
    def classes_(self) -> tuple[str, ...]:
        """The classes of the checked classifier."""
        return tuple(getattr(self.classifier, "classes_", ()))

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` with the classifier, then check the uniform crystals."""
        frame = as_frame(frame)
        labels = self.classifier.classify(frame, neighbors=neighbors)
        codes, checked = in_tiles(frame, self.max_atoms, self.signature.reach, self.signature.frame_scales(),
                                  self._check, np.asarray(labels.codes))
        return replace(labels, codes=codes, method=self.name, extra={**labels.extra, "mismatch": checked})

    def _check(self, frame: Frame, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(codes, mismatch) of ``frame``'s atoms labelled ``codes`` after the check."""
        codes = codes.copy()
        checked = np.full(len(codes), np.nan)
        crystal = np.isin(codes, CRYSTALLINE_CODES)
        if len(frame) > 1 and crystal.any():
            shared = self.signature.find_neighbors(frame)
            region = self.signature.region(frame, shared)
            present = np.unique(codes[crystal])
            # per atom: how many atoms of its region carry each crystal label, and how many in all
            counts = region.sum(np.column_stack([codes == c for c in present] + [np.ones(len(codes), bool)]).astype(np.float64))
            own = counts[np.arange(len(codes)), np.clip(np.searchsorted(present, codes), 0, len(present) - 1)]
            atoms = np.flatnonzero(crystal & (own >= self.uniform * counts[:, -1]))
            if len(atoms):
                q = self.signature.compute_all(frame, shared, region)[atoms]
                names = np.asarray(VOCABULARY)[codes[atoms]]
                checked[atoms], misfit = _misfits(q, names)
                codes[atoms[misfit]] = CODE["unknown"]
        return codes, checked


class Hybrid:
    """Crystals and defects from a geometric method, liquids and sparse data from an ML model.

    Which one decides depends first on the frame. Where ``crystal`` (typically denoised PTM)
    finds fewer than ``dense_share`` of all atoms crystalline, templates cannot see the frame:
    atoms missing throughout, a liquid or glass, a crystal too hot for them; ``ml`` labels
    every atom. Everywhere else ``crystal`` decides: template matching on denoised positions keeps
    surfaces, vacancies, dislocation cores and boundaries out of the crystal classes, where the
    ML models, trained on bulk crystals, call them crystalline. There an atom ``crystal``
    rejects takes the ML label only when it is liquid or amorphous and fewer than
    ``liquid_share`` of the atom's ``neighbors`` nearest atoms are crystalline: inside a liquid
    region beside a crystal. Otherwise it is a defect, surface or boundary atom and stays
    ``other`` (boundaries, even thick ones, have crystal within 64 neighbours; the ML models,
    which have no class for them, would call them liquid).

    ``confirm_below`` > 0: in a frame ``ml`` labels and finds mostly disordered (under this
    share of its atoms crystalline), its crystals are a nucleus or a grain in a liquid or glass,
    or a crystal no model knows, not a crystal with atoms missing: an ``ml`` crystal label stands
    only where ``crystal`` also finds a crystal (``crystal``'s lattice then), else it becomes
    ``other``. The averaged ML labels reach about a shell into the liquid around a nucleus,
    which the templates see sharply.
    The defaults and the measurements behind them: docs/benchmarks.md, "Realistic samples" and
    "Nuclei seen by the templates".

    ``max_atoms``: the neighbour rule runs a spatial tile of about this many atoms at a time
    (give the stages their own, :class:`Tiled` or ``max_atoms``), with the same labels.
    """

    def __init__(self, crystal: Classifier, ml: Classifier, liquid_share: float = 0.1,
                 neighbors: int = 64, dense_share: float = 0.35, confirm_below: float = 0.0,
                 max_atoms: int | None = None) -> None:
        for option, value in (("liquid_share", liquid_share), ("dense_share", dense_share),
                              ("confirm_below", confirm_below)):
            if not 0 <= value <= 1:
                raise InputError(f"{option} must be between 0 and 1, got {value}")
        if neighbors < 1:
            raise InputError(f"neighbors must be at least 1, got {neighbors}")
        self.crystal, self.ml = crystal, ml
        self.liquid_share, self.neighbors, self.dense_share = liquid_share, neighbors, dense_share
        self.confirm_below, self.max_atoms = confirm_below, max_atoms
        self.name = f"{getattr(crystal, 'name', 'crystal')}|{getattr(ml, 'name', 'ml')}"

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` (see the class doc). ``ml`` runs only when some atom
        may take its label: not at all on a frame the templates recognise throughout."""
        frame = as_frame(frame)
        first = self.crystal.classify(frame, neighbors=neighbors)
        is_crystal = np.isin(first.codes, CRYSTALLINE_CODES)
        # the same classes on every frame, whether ``ml`` ran or not
        classes = (*first.classes, *getattr(self.ml, "classes_", ()))
        codes = np.asarray(first.codes).copy()
        if len(frame) and is_crystal.mean() < self.dense_share:
            second = self.ml.classify(frame, neighbors=neighbors)
            codes, classes = np.asarray(second.codes).copy(), (*classes, *second.classes)
            ml_crystal = np.isin(codes, CRYSTALLINE_CODES)
            if ml_crystal.mean() < self.confirm_below:
                confirmed = ml_crystal & is_crystal
                codes[confirmed] = first.codes[confirmed]
                codes[ml_crystal & ~is_crystal] = CODE["other"]
        elif len(frame) and not is_crystal.all():
            share = crystal_share(frame, is_crystal, self.neighbors, self.max_atoms, neighbors)
            candidates = ~is_crystal & (share < self.liquid_share)
            if candidates.any():
                second = self.ml.classify(frame, neighbors=neighbors)
                ml_codes = np.asarray(second.codes)
                take = candidates & ~np.isin(ml_codes, CRYSTALLINE_CODES)
                codes[take] = ml_codes[take]
                classes = (*classes, *second.classes)
        return Labels(codes=codes.astype(np.int16), classes=tuple(dict.fromkeys(classes)),
                      method=self.name, extra=first.extra)


class LiquidOrAmorphous:
    """A classifier's crystals, with its disordered atoms split into liquid and glass by a model
    trained on glasses.

    A model trained on crystals and melts only (``nmcnn-metals``) has no amorphous class: a
    glass comes out liquid, or as a crystal that the order check then makes ``unknown``. A
    glass-aware model tells liquid from glass but, having learned an extra class, keeps some
    crystals less well (docs/benchmarks.md, "Liquid or glass"). So ``classifier`` decides which
    atoms are crystalline, and ``glass`` only how the disordered ones are disordered: an atom
    ``classifier`` calls liquid or amorphous, or ``unknown`` in a region whose order is below
    ``ordered`` (a disordered region, not an unknown crystal), takes ``glass``'s label when that
    is liquid or amorphous. Crystal labels, ``other`` and the ``unknown`` of ordered regions
    stay, so nothing ``classifier`` got right on crystals can change. The region's order is
    ``classifier``'s ``extra["order"]`` (:class:`OrderChecked`) or computed here.

    ``pocket_share`` > 0: a crystal atom with fewer than that share of crystal atoms among its
    ``pocket_neighbors`` nearest (a pocket of a few dozen atoms, not a crystal) is treated as
    disordered too. A crystal model calls small pockets of a metallic glass hcp or fcc (Ni: 5–9 %
    of the atoms), and of a liquid around a nucleus; a crystal with half of its atoms missing is
    crystalline throughout and keeps its labels (docs/benchmarks.md, "Pockets").

    ``max_atoms``: on a larger frame the order (when ``classifier`` gives none) and the pocket
    rule run a spatial tile of about this many atoms at a time, with the same result (give
    ``classifier`` and ``glass`` their own :class:`Tiled` or ``max_atoms``).
    """

    def __init__(self, classifier: Classifier, glass: Classifier, ordered: float = ORDERED,
                 pocket_share: float = 0.0, pocket_neighbors: int = 32, max_atoms: int | None = None) -> None:
        if not 0 < ordered < 1:
            raise InputError(f"the order threshold must be between 0 and 1, got {ordered}")
        if not 0 <= pocket_share <= 1 or pocket_neighbors < 1:
            raise InputError("pocket_share must be between 0 and 1 and pocket_neighbors at least 1")
        self.classifier, self.glass, self.ordered = classifier, glass, ordered
        self.pocket_share, self.pocket_neighbors, self.max_atoms = pocket_share, pocket_neighbors, max_atoms
        self.order = RegionalOrder()
        self.name = f"{getattr(classifier, 'name', 'classifier')}/{getattr(glass, 'name', 'glass')}"

    @property
    def reach(self) -> float:
        """How far (first-shell distances) a label looks: the classifier's from the pocket's
        atoms, the glass model's and the region's."""
        return max(reach_of(self.classifier) + knn_reach(self.pocket_neighbors), reach_of(self.glass),
                   self.order.reach)

    @property
    def classes_(self) -> tuple[str, ...]:
        """The classes of both classifiers."""
        return tuple(dict.fromkeys((*getattr(self.classifier, "classes_", ()), *getattr(self.glass, "classes_", ()))))

    def find_neighbors(self, frame: Frame) -> NeighborList | None:
        """The first classifier's neighbour list (None: it has no single one)."""
        return _own_neighbors(self.classifier, frame)

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame``; ``glass`` runs only when some atom is disordered."""
        frame = as_frame(frame)
        tiled = self.max_atoms is not None and len(frame) > self.max_atoms
        # no list of the whole frame when it goes in tiles
        shared = resolve(frame, neighbors) if tiled else _own_neighbors(self.classifier, frame, neighbors)
        labels = self.classifier.classify(frame, neighbors=shared)
        codes = np.asarray(labels.codes).copy()
        disorder = (CODE["liquid"], CODE["amorphous"])
        candidates = np.isin(codes, disorder)
        unknown = codes == CODE["unknown"]
        if unknown.any():
            order = labels.extra.get("order")
            if order is None:
                def regional_order(part: Frame) -> tuple[np.ndarray]:
                    return (self.order.compute(part, shared if part is frame else None),)

                order, = in_tiles(frame, self.max_atoms, self.order.reach, self.order.frame_scales(),
                                  regional_order)
            candidates |= unknown & (np.asarray(order) < self.ordered)
        if self.pocket_share > 0:
            crystal = np.isin(codes, CRYSTALLINE_CODES)
            if crystal.any() and not crystal.all():
                share = crystal_share(frame, crystal, self.pocket_neighbors, self.max_atoms, shared)
                candidates |= crystal & (share < self.pocket_share)
        classes, probabilities = tuple(labels.classes), labels.probabilities
        if candidates.any():
            second = self.glass.classify(frame, neighbors=shared)
            glass_codes = np.asarray(second.codes)
            take = candidates & np.isin(glass_codes, disorder)
            codes[take] = glass_codes[take]
            classes = tuple(dict.fromkeys((*classes, *second.classes)))
            probabilities = _merged(labels, second, classes, take)
        return Labels(codes=codes.astype(np.int16), classes=classes, probabilities=probabilities,
                      method=self.name, extra=labels.extra)


def _merged(first: Labels, second: Labels, classes: tuple[str, ...], take: np.ndarray) -> np.ndarray | None:
    """Per-atom probabilities over ``classes``: ``second``'s where ``take``, else ``first``'s
    (None unless both have them)."""
    if first.probabilities is None or second.probabilities is None:
        return None
    merged = np.zeros((len(take), len(classes)), dtype=np.float32)
    column = {name: k for k, name in enumerate(classes)}
    for labels, rows in ((first, ~take), (second, take)):
        merged[np.ix_(rows, [column[c] for c in labels.classes])] = labels.probabilities[rows]
    return merged


class BySpecies:
    """One classifier per chemical system: the frame's distinct species pick the classifier
    trained on exactly them (a two-channel Cu-Zr model for a Cu-Zr frame), ``fallback`` labels
    every other frame. ``classifiers`` maps species (an iterable of names) to a classifier."""

    def __init__(self, classifiers: dict, fallback: Classifier) -> None:
        self.classifiers = {frozenset(str(s) for s in species): c for species, c in classifiers.items()}
        self.fallback = fallback
        self.name = getattr(fallback, "name", "classifier")

    @property
    def reach(self) -> float:
        """How far (first-shell distances) a label looks: the farthest of the classifiers'."""
        return max(reach_of(c) for c in (*self.classifiers.values(), self.fallback))

    @property
    def classes_(self) -> tuple[str, ...]:
        """The classes of every classifier."""
        every = (*self.classifiers.values(), self.fallback)
        return tuple(dict.fromkeys(c for clf in every for c in getattr(clf, "classes_", ())))

    def frame_scales(self) -> list:
        """The frame-wide scale the choice depends on: the species (:mod:`structid.scales`)."""
        return [Species()]

    def choose(self, frame: Frame) -> Classifier:
        """The classifier for ``frame``'s species (on a tile, the whole frame's)."""
        species = frame_value(frame, Species(), lambda: np.asarray(frame.species_names()))
        return self.classifiers.get(frozenset(species), self.fallback)

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` with the classifier of its species."""
        frame = as_frame(frame)
        return self.choose(frame).classify(frame, neighbors=neighbors)


