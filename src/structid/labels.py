"""The label vocabulary and :class:`Labels`, the result every classifier returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from structid.errors import InputError
from structid.frame import Frame

#: Every structure name structid knows; a label's integer code is its index here, the same for
#: every method. Codes 0-8 are OVITO's own structure-type ids (those of its PTM modifier, shared by
#: its a-CNA modifier, mdapy and pyscal), so "type 2" means hcp in OVITO's output
#: and in structid's. ``other``: a classical method found no match. ``unknown``: an ML model's top
#: probability fell below the requested minimum confidence.
VOCABULARY: tuple[str, ...] = (
    "other",
    "fcc",
    "hcp",
    "bcc",
    "ico",
    "sc",
    "cd",
    "hd",
    "graphite",
    "rocksalt",
    "cscl",
    "fluorite",
    "liquid",
    "amorphous",
    "unknown",
)
CODE: dict[str, int] = {name: code for code, name in enumerate(VOCABULARY)}
#: Labels that name a crystal (everything but other/liquid/amorphous/unknown).
CRYSTALLINE: frozenset[str] = frozenset(VOCABULARY) - {"other", "liquid", "amorphous", "unknown"}
#: their codes, sorted (for ``np.isin``)
CRYSTALLINE_CODES: np.ndarray = np.array(sorted(CODE[name] for name in CRYSTALLINE), dtype=np.int16)

#: The order of structid 0.1's ``structure_id`` column (before the ids followed OVITO's); files
#: and cached MD runs written then are read with it.
LEGACY_VOCABULARY: tuple[str, ...] = (
    "other", "fcc", "bcc", "hcp", "ico", "sc", "cd", "hd", "rocksalt", "cscl", "fluorite",
    "graphite", "liquid", "amorphous", "unknown",
)
#: Per-atom label columns written by structid: the LAMMPS dump column and the extxyz column that
#: OVITO imports as its typed ``Structure Type`` property (ids = codes of :data:`VOCABULARY`).
STRUCTURE_TYPE_COLUMNS: tuple[str, ...] = ("StructureType", "structure_type")
LEGACY_COLUMN = "structure_id"

#: Display name and RGB colour (0-1) of every label: OVITO's for its own types (PTM's
#: defaults), distinct ones for the rest.
DISPLAY: dict[str, tuple[str, tuple[float, float, float]]] = {
    "other": ("Other", (0.95, 0.95, 0.95)),
    "fcc": ("FCC", (0.4, 1.0, 0.4)),
    "hcp": ("HCP", (1.0, 0.4, 0.4)),
    "bcc": ("BCC", (0.4, 0.4, 1.0)),
    "ico": ("ICO", (0.95, 0.8, 0.2)),
    "sc": ("Simple cubic", (0.627451, 0.078431, 0.996078)),
    "cd": ("Cubic diamond", (0.074510, 0.627451, 0.996078)),
    "hd": ("Hexagonal diamond", (0.996078, 0.537255, 0.0)),
    "graphite": ("Graphite", (0.627451, 0.470588, 0.996078)),
    "rocksalt": ("Rocksalt", (0.55, 0.35, 0.2)),
    "cscl": ("CsCl", (0.2, 0.6, 0.6)),
    "fluorite": ("Fluorite", (0.85, 0.55, 0.85)),
    "liquid": ("Liquid", (0.2, 0.45, 0.75)),
    "amorphous": ("Amorphous", (0.5, 0.5, 0.5)),
    "unknown": ("Unknown", (0.1, 0.1, 0.1)),
}


def code_of(name: str) -> int:
    """Integer code of a structure name; raises :class:`InputError` for names outside
    :data:`VOCABULARY`."""
    try:
        return CODE[name]
    except KeyError:
        raise InputError(
            f"unknown structure name {name!r}; known: {', '.join(VOCABULARY)}"
        ) from None


def names_from_column(column: str, values: np.ndarray, where: str = "") -> np.ndarray:
    """Per-atom structure names of a label column read from a file: text names as they are, ids
    of :data:`VOCABULARY` (``StructureType`` and any other integer column), or of the legacy order
    when the column is structid 0.1's ``structure_id``. Raises :class:`InputError` for ids or
    names outside the vocabulary."""
    values = np.asarray(values)
    where = f"{where}: " if where else ""
    if values.dtype.kind in "iuf":
        table = LEGACY_VOCABULARY if column == LEGACY_COLUMN else VOCABULARY
        ids = values.astype(np.int64) if values.dtype.kind != "f" else values
        if len(ids) and (np.any(ids != np.round(ids)) or ids.min() < 0 or ids.max() >= len(table)):
            raise InputError(f"{where}column {column!r} holds values that are not ids 0..{len(table) - 1}")
        return np.asarray(table)[np.asarray(ids, dtype=np.int64)] if len(ids) else np.zeros(0, dtype="<U9")
    names = values.astype(str)
    for name in np.unique(names):
        if name not in CODE:
            raise InputError(f"{where}column {column!r} holds {str(name)!r}, not a structure name; "
                             f"known: {', '.join(VOCABULARY)}")
    return names


@dataclass(frozen=True, eq=False)
class Labels:
    """Per-atom structure labels of one frame.

    Attributes:
        codes: (n,) int16 indices into :data:`VOCABULARY` (stable across methods).
        classes: the names this method can output, in the column order of ``probabilities``.
        probabilities: optional (n, len(classes)) float32 per-class probabilities.
        method: short name of the method that made the labels (e.g. ``"ptm"``).
        extra: optional per-atom outputs of the method (e.g. PTM's ``rmsd``).
    """

    codes: np.ndarray
    classes: tuple[str, ...]
    probabilities: np.ndarray | None = None
    method: str = ""
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 1:
            raise ValueError(f"`codes` must be a 1-d array, got shape {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= len(VOCABULARY)):
            raise ValueError("`codes` must be indices into structid.labels.VOCABULARY")
        classes = tuple(self.classes)
        for name in classes:
            code_of(name)
        if self.probabilities is not None:
            p = np.asarray(self.probabilities, dtype=np.float32)
            if p.shape != (len(codes), len(classes)):
                raise ValueError(
                    f"`probabilities` must have shape {(len(codes), len(classes))}, got {p.shape}"
                )
            object.__setattr__(self, "probabilities", p)
        object.__setattr__(self, "codes", codes.astype(np.int16))
        object.__setattr__(self, "classes", classes)

    @classmethod
    def from_names(cls, names: np.ndarray | list[str], **kwargs) -> Labels:
        """Labels from per-atom structure names."""
        names = np.asarray(names, dtype=str)
        uniq, inverse = np.unique(names, return_inverse=True)
        table = np.array([code_of(str(u)) for u in uniq], dtype=np.int16)
        codes = table[inverse] if len(names) else np.zeros(0, np.int16)
        kwargs.setdefault("classes", tuple(str(u) for u in uniq))
        return cls(codes=codes, **kwargs)

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, classes: tuple[str, ...] | list[str],
                           min_confidence: float = 0.0, **kwargs) -> Labels:
        """Labels of the most likely class of every atom; ``unknown`` where the top probability
        is below ``min_confidence``; ``other`` where every probability is 0. ``probabilities``: (n, len(classes)), columns in the order
        of ``classes``."""
        if not 0 <= min_confidence <= 1:
            raise InputError(f"min_confidence must be between 0 and 1, got {min_confidence}")
        classes = tuple(classes)
        p = np.asarray(probabilities, dtype=np.float32)
        table = np.array([code_of(c) for c in classes], dtype=np.int16)
        codes = table[p.argmax(axis=1)] if len(p) else np.zeros(0, np.int16)
        if min_confidence > 0 and len(p):
            codes = np.where(p.max(axis=1) < min_confidence, CODE["unknown"], codes)
        if len(p):
            # a model gives an atom no probability at all when it cannot see a neighbourhood
            codes = np.where(p.max(axis=1) > 0, codes, CODE["other"]).astype(np.int16)
        return cls(codes=codes, classes=classes, probabilities=p, **kwargs)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def names(self) -> np.ndarray:
        """(n,) structure name of every atom."""
        return np.asarray(VOCABULARY)[self.codes]

    def counts(self) -> dict[str, int]:
        """Number of atoms per structure name, in vocabulary order, zero counts omitted."""
        counts = np.bincount(self.codes, minlength=len(VOCABULARY))
        return {VOCABULARY[c]: int(counts[c]) for c in np.flatnonzero(counts)}

    def fractions(self) -> dict[str, float]:
        """Share of atoms per structure name (sums to 1)."""
        n = max(len(self), 1)
        return {name: count / n for name, count in self.counts().items()}

    def select(self, mask: np.ndarray) -> Labels:
        """Labels of a subset of atoms (boolean mask or index array)."""
        return Labels(
            codes=self.codes[mask],
            classes=self.classes,
            probabilities=None if self.probabilities is None else self.probabilities[mask],
            method=self.method,
            extra={k: v[mask] for k, v in self.extra.items()},
        )


@runtime_checkable
class Classifier(Protocol):
    """What every structure-identification method implements.

    ``neighbors``: None, a prebuilt :class:`structid.neighbors.NeighborList` of ``frame`` or a
    query (see :mod:`structid.neighbors`); a method that searches its own neighbours (OVITO's)
    accepts and ignores it.
    """

    #: short name used on the command line and in ``Labels.method``
    name: str

    def classify(self, frame: Frame, neighbors=None) -> Labels:
        """Label every atom of ``frame``."""
        ...
