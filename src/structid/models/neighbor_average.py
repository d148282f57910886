"""Composition: average a probabilistic classifier's per-atom probabilities over each atom's
nearest neighbours before taking the most likely class.

A per-atom classifier decides from one neighbourhood; in a crystal near its melting point a few
atoms sit in a strongly distorted one while the shell around them is still crystalline, and a
liquid briefly holds crystal-like clusters. Averaging with the neighbours' probabilities
removes those isolated misses; the price is spatial resolution of about one neighbour shell
(a lone atom unlike all its neighbours takes their label; a twin plane one layer thick keeps
its own, half of each of its atoms' 12 neighbours sharing it)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.labels import CODE, Classifier, Labels


class NeighborAveraged:
    """Wrap ``classifier`` (which must give probabilities): each atom's probabilities become
    ``(p_i + weight * mean_j p_j) / (1 + weight)`` over its ``neighbors`` nearest atoms
    (periodic images included), then the most likely class, or ``unknown`` below
    ``min_confidence``. The labels belong to the input atoms; the method name records the
    composition (e.g. ``nmcnn+avg12``)."""

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

    def classify(self, frame: Frame) -> Labels:
        """Label every atom of ``frame`` from its own and its neighbours' probabilities."""
        from structid.neighbors import nearest_neighbors

        # a classifier that already holds a neighbour list (NM-CNN) saves the second search
        with_neighbors = getattr(self.classifier, "classify_with_neighbors", None)
        labels, nearest = with_neighbors(frame, self.neighbors) if with_neighbors else (
            self.classifier.classify(frame), None)
        if labels.probabilities is None:
            raise InputError(f"method {labels.method or self.classifier!r} gives no probabilities to "
                             "average; use an ML method (nmcnn, less)")
        if len(frame) == 0:
            return replace(labels, method=self.name)
        own = labels.probabilities
        if nearest is None:
            nearest = nearest_neighbors(frame, self.neighbors).indices
        around = own[nearest].mean(axis=1)
        probabilities = (own + self.weight * around) / (1.0 + self.weight)
        table = np.array([CODE[c] for c in labels.classes], dtype=np.int16)
        codes = table[probabilities.argmax(axis=1)]
        if self.min_confidence > 0:
            codes = np.where(probabilities.max(axis=1) < self.min_confidence, CODE["unknown"], codes)
        return replace(labels, codes=codes, probabilities=probabilities, method=self.name)
