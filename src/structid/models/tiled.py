"""Methods run a spatial tile of a frame at a time (:mod:`structid.tiles`): a classifier in
tiles (:class:`Tiled`), a per-atom rule in tiles (:func:`in_tiles`), and how far a method's
labels look (``reach``, in first-shell distances), which sets the tiles' halo. On a frame of
at most ``max_atoms`` atoms everything runs whole; on a larger one the result is the same.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.labels import Classifier, Labels
from structid.neighbors import Neighbors, nearest_neighbors, resolve
from structid.scales import declared_scales, pin_scales, tile_frame
from structid.tiles import Tiling, density_length


#: first-shell distances per density length (volume per atom)^(1/3), at most: fcc 1.12,
#: bcc 1.09, diamond 0.87 (a halo in density lengths is this much longer than in first shells)
_SHELLS_PER_DENSITY_LENGTH = 1.2


class Tiled:
    """``classifier`` run on one spatial tile of the frame at a time
    (:class:`~structid.tiles.Tiling`), each tile holding about ``max_atoms`` atoms with its
    halo: peak memory that of a tile, not of the frame. ``reach``: how far, in first-shell
    distances, an atom's label depends on other atoms (default the classifier's ``reach``);
    the halo is that far, so the labels are those of the whole frame. A frame of at most
    ``max_atoms`` atoms is labelled whole."""

    def __init__(self, classifier: Classifier, max_atoms: int, reach: float | None = None) -> None:
        reach = reach_of(classifier) if reach is None else reach
        if not reach > 0:
            raise InputError(f"the reach must be a positive number of first-shell distances, got {reach}")
        if max_atoms < 1:
            raise InputError(f"the atoms per tile must be at least 1, got {max_atoms}")
        self.classifier, self.max_atoms, self.reach = classifier, int(max_atoms), float(reach)
        self.name = getattr(classifier, "name", "classifier")

    @property
    def classes_(self) -> tuple[str, ...]:
        """The tiled classifier's classes."""
        return tuple(getattr(self.classifier, "classes_", getattr(self.classifier, "classes", ())))

    def halo(self, frame: Frame) -> float:
        """The halo of ``frame``'s tiles, Å."""
        return halo_of(frame, self.reach)

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame`` a tile at a time (``neighbors`` serves a whole frame)."""
        frame = as_frame(frame)
        if len(frame) <= self.max_atoms:
            return self.classifier.classify(frame, neighbors=neighbors)
        tiling = Tiling(frame, self.max_atoms, self.halo(frame))
        # the frame-wide scales the tiles cannot compute alone (medians over all atoms)
        pinned = pin_scales(frame, tiling, declared_scales(self.classifier))
        if any(value is None for value in pinned.values()):
            return self.classifier.classify(frame, neighbors=neighbors)  # too sparse to split
        return merge_tiles(frame, tiling, self.classifier.classify, pinned)


def halo_of(frame: Frame, reach: float) -> float:
    """The halo, Å, that holds every atom within ``reach`` first-shell distances in ``frame``."""
    return reach * _SHELLS_PER_DENSITY_LENGTH * density_length(frame)


def knn_reach(k: int) -> float:
    """How far (first-shell distances) an atom's ``k`` nearest neighbours reach, at most, in a
    condensed phase: the ball of k atoms at the density, 20 % wider (fcc's 12th is at 1, its
    32nd at 1.73, its 64th at 2.24)."""
    return 1.2 * (3 * k / (4 * np.pi)) ** (1 / 3)


def reach_of(classifier: Classifier) -> float:
    """How far (first-shell distances) ``classifier``'s label of an atom depends on other
    atoms; an error when it does not say (it cannot be split into tiles)."""
    reach = getattr(classifier, "reach", None)
    if reach is None or not reach > 0:
        raise InputError(f"{getattr(classifier, 'name', 'the classifier')} does not say how far its "
                         "labels look (reach); it cannot be split into tiles")
    return float(reach)


def in_tiles(frame: Frame, max_atoms: int | None, reach: float, scales: list, rule, *arrays: np.ndarray):
    """``rule(frame, *arrays)`` (per-atom ``arrays`` in, a tuple of per-atom arrays out, each
    atom's rows depending on atoms within ``reach`` first-shell distances and on the frame-wide
    ``scales``), on the whole frame, or a spatial tile of about ``max_atoms`` atoms at a time
    when the frame is larger: the same result."""
    if max_atoms is None or len(frame) <= max_atoms:
        return rule(frame, *arrays)
    tiling = Tiling(frame, max_atoms, halo_of(frame, reach))
    pinned = pin_scales(frame, tiling, scales)
    if any(value is None for value in pinned.values()):
        return rule(frame, *arrays)
    out = None
    for tile in tiling.tiles():
        parts = rule(tile_frame(frame, tile, pinned), *(a[tile.atoms] for a in arrays))
        if out is None:
            out = tuple(np.empty((len(frame), *np.shape(p)[1:]), dtype=np.asarray(p).dtype) for p in parts)
        for whole, part in zip(out, parts):
            whole[tile.owned] = np.asarray(part)[: tile.n_owned]
    return out


def crystal_share(frame: Frame, crystal: np.ndarray, neighbors: int, max_atoms: int | None = None,
                  given: Neighbors = None) -> np.ndarray:
    """Per atom, the share of its ``neighbors`` nearest atoms (fewer in a smaller frame) for
    which ``crystal`` is true; a spatial tile of about ``max_atoms`` atoms at a time on a larger
    frame (``given``: a neighbour list of the whole frame to search in)."""
    k = min(neighbors, max(len(frame) - 1, 1))

    def around(part: Frame, crystal: np.ndarray) -> tuple[np.ndarray]:
        listed = resolve(part, given) if part is frame else None
        return (crystal[nearest_neighbors(part, k, neighbors=listed).indices].mean(axis=1),)

    return in_tiles(frame, max_atoms, knn_reach(k), [], around, np.asarray(crystal))[0]


def merge_tiles(frame: Frame, tiling, classify, pinned: dict | None = None) -> Labels:
    """Labels of ``frame`` from ``classify`` run on every tile of ``tiling`` (which know the
    frame's ``pinned`` scales): each atom takes the labels of the tile that owns it; classes,
    probabilities and per-atom extras are joined (a class one tile lacks has probability 0
    there)."""
    n = len(frame)
    codes = np.zeros(n, dtype=np.int16)
    parts: list[tuple[np.ndarray, Labels]] = []
    for tile in tiling.tiles():
        labels = tile_labels(classify(tile_frame(frame, tile, pinned or {})), tile.n_owned)
        codes[tile.owned] = labels.codes
        parts.append((tile.owned, labels))
    classes = tuple(dict.fromkeys(c for _, labels in parts for c in labels.classes))
    probabilities = None
    if parts and all(labels.probabilities is not None for _, labels in parts):
        column = {name: k for k, name in enumerate(classes)}
        probabilities = np.zeros((n, len(classes)), dtype=np.float32)
        for owned, labels in parts:
            probabilities[np.ix_(owned, [column[c] for c in labels.classes])] = labels.probabilities
    extra = {}
    for key in set.intersection(*(set(labels.extra) for _, labels in parts)) if parts else ():
        first = np.asarray(parts[0][1].extra[key])
        values = np.zeros((n, *first.shape[1:]), dtype=first.dtype)
        for owned, labels in parts:
            values[owned] = labels.extra[key]
        extra[key] = values
    return Labels(codes=codes, classes=classes, probabilities=probabilities,
                  method=parts[0][1].method if parts else "", extra=extra)


def tile_labels(labels: Labels, n_owned: int) -> Labels:
    """The labels of a tile's first ``n_owned`` atoms (the ones it owns)."""
    extra = {k: np.asarray(v)[:n_owned] for k, v in labels.extra.items()
             if np.ndim(v) >= 1 and len(v) == len(labels.codes)}
    probabilities = None if labels.probabilities is None else labels.probabilities[:n_owned]
    return replace(labels, codes=labels.codes[:n_owned], probabilities=probabilities, extra=extra)


class SizedToMemory:
    """A pipeline sized to each frame: ``build(None)`` (whole frames) for a frame that fits in
    the memory available, ``build(n)`` (tiles of ``n`` atoms) for a bigger one, ``n`` being
    ``per_tile(len(frame))`` (None: it fits). Each size is built once; the labels are the same
    either way."""

    def __init__(self, build, per_tile) -> None:
        self.build, self.per_tile = build, per_tile
        self.built = {None: build(None)}  # built now, so that a bad option fails at once
        whole = self.built[None]
        self.name = getattr(whole, "name", type(whole).__name__)

    @property
    def classes_(self) -> tuple[str, ...]:
        """The pipeline's classes."""
        whole = self.built[None]
        return tuple(getattr(whole, "classes_", getattr(whole, "classes", ())))

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame``, in tiles when it is too big for the memory."""
        frame = as_frame(frame)
        size = self.per_tile(len(frame))
        if size not in self.built:
            self.built[size] = self.build(size)
        return self.built[size].classify(frame, neighbors=neighbors)
