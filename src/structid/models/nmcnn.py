"""The CNN classifier on Neighbors Maps (Allera et al. 2023, Appendix A), in PyTorch.

``NMCNN`` follows the scikit-learn habit: ``__init__`` stores settings, ``fit`` learns and
returns ``self``, learned state ends in ``_``. One model file holds the weights, the class
names, the descriptor parameters and the training record.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from structid.descriptors.neighbors_map import NeighborsMap
from structid.errors import InputError, NotFittedError
from structid.frame import Frame
from structid.labels import CODE, Labels, code_of
from structid.models.files import read_model, write_model

FILE_FORMAT = "structid-nmcnn"
FILE_VERSION = 1
#: maps per forward pass at inference: small batches keep the activations in the CPU cache
#: (2 cores: ~11k maps/s at 32-128 maps, ~4k at 4096)
PREDICT_BATCH = 64


#: the paper's five convolutions, varied only in where the max-pool sits and which of the
#: 3x3 convolutions (2nd, 3rd or 4th) has stride 2: (pool after conv 1 or 2, strided conv)
ARCHITECTURES = {"paper": (2, 4), "pool-first": (1, 4), "pool-first-s3": (1, 3), "pool-first-s2": (1, 2)}


def build_network(channels: int, n_classes: int, architecture: str = "paper"):
    """The CNN of Appendix A (``paper``, ~26.6k parameters for 32x32 maps) or a variant with
    the same layers and parameters but fewer multiply-adds per map (32x32 maps):

    * ``paper``: Conv 16@5x5, Conv 32@3x3, MaxPool 2, Conv 16@3x3, Conv 16@3x3 stride 2,
      Conv 32@2x2 stride 2, Dense 24, BatchNorm, Dense: 6.5 M;
    * ``pool-first``: the max-pool right after the first convolution: 2.9 M;
    * ``pool-first-s3`` / ``-s2``: and the stride 2 moved from the 4th convolution to the 3rd
      (2.1 M) or the 2nd (1.2 M).

    The comparison at equal training is in docs/nmcnn.md.
    """
    from torch import nn

    if architecture not in ARCHITECTURES:
        raise InputError(f"unknown architecture {architecture!r}; choose {', '.join(ARCHITECTURES)}")
    pool_after, strided = ARCHITECTURES[architecture]
    shapes = [(channels, 16, 5), (16, 32, 3), (32, 16, 3), (16, 16, 3)]
    layers: list = []
    for k, (c_in, c_out, size) in enumerate(shapes, start=1):
        stride = 2 if k == strided else 1
        layers += [nn.Conv2d(c_in, c_out, size, stride=stride, padding=size // 2), nn.ReLU()]
        if k == pool_after:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(
        *layers,
        nn.Conv2d(16, 32, 2, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.LazyLinear(24), nn.ReLU(), nn.BatchNorm1d(24),
        nn.Linear(24, n_classes),
    )


class NMCNN:
    """Neighbors Map + CNN structure classifier.

    Args:
        descriptor: the map settings (default: 32x32, geometric channel, ``scale="auto"``).
        epochs: training epochs (the paper: ~10).
        batch_size: maps per optimizer step.
        learning_rate: Adam step size.
        weight_decay: L2 penalty (the paper: 1e-4).
        val_fraction: share of maps held out for validation.
        min_confidence: atoms whose top probability is below this get ``unknown``.
        seed: random seed (split, initial weights, batches).
        threads: torch CPU threads (default: torch's choice).
        architecture: ``paper`` (Appendix A) or a variant with the same layers and fewer
            multiply-adds (see :func:`build_network`); the default ``pool-first-s3`` trains 3.5x
            faster than ``paper`` at equal or better accuracy (docs/nmcnn.md).
    """

    name = "nmcnn"

    def __init__(
        self,
        descriptor: NeighborsMap | None = None,
        epochs: int = 10,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        val_fraction: float = 0.1,
        min_confidence: float = 0.0,
        seed: int = 0,
        threads: int | None = None,
        architecture: str = "pool-first-s3",
    ) -> None:
        self.descriptor = descriptor or NeighborsMap(scale="auto")
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.min_confidence = min_confidence
        self.seed = seed
        self.threads = threads

    # -- training ----------------------------------------------------------------------------

    def fit_maps(self, maps: np.ndarray, labels: Sequence[str], progress=None) -> NMCNN:
        """Train on precomputed maps (n, C, N, N) and their structure names.

        Classes are weighted by inverse frequency; prints nothing, records the validation
        accuracy and confusion matrix in ``history_``.
        """
        import torch
        from torch import nn

        labels = np.asarray(labels, dtype=str)
        if len(maps) != len(labels):
            raise InputError(f"{len(maps)} maps but {len(labels)} labels")
        for name in np.unique(labels):
            code_of(str(name))
        classes, y = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise InputError(f"need at least two classes to train, got {[str(c) for c in classes]}")
        if self.threads:
            torch.set_num_threads(self.threads)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        order = rng.permutation(len(maps))
        n_val = int(round(self.val_fraction * len(maps)))
        val, train = order[:n_val], order[n_val:]
        x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
        target = torch.from_numpy(y.astype(np.int64))
        counts = np.bincount(y[train], minlength=len(classes)).astype(float)
        class_weight = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
        network = build_network(maps.shape[1], len(classes), self.architecture)
        network(x[:2])  # materialise the lazy layer
        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=class_weight)
        # cosine decay to 5 % over all batches: the last epochs refine instead of jumping
        batches = self.epochs * max(1, -(-len(train) // self.batch_size))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(k / batches, 1.0))))
        history, best = [], (-1.0, None, 0)
        start = time.perf_counter()
        for epoch in range(self.epochs):
            network.train()
            perm = torch.from_numpy(rng.permutation(train))
            total = 0.0
            for b in range(0, len(perm), self.batch_size):
                idx = perm[b:b + self.batch_size]
                if len(idx) < 2:
                    continue  # BatchNorm needs two samples
                optimizer.zero_grad()
                loss = loss_fn(network(x[idx]), target[idx])
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(idx)
            entry = {"epoch": epoch + 1, "loss": total / max(len(train), 1)}
            if n_val:
                predicted = _predict(network, x[val], PREDICT_BATCH).argmax(axis=1)
                entry["val_accuracy"] = float(np.mean(predicted == y[val]))
                if entry["val_accuracy"] > best[0]:
                    best = (entry["val_accuracy"], copy.deepcopy(network.state_dict()), epoch + 1)
            history.append(entry)
            if progress:
                progress(entry)
        if best[1] is not None:  # keep the epoch that validated best
            network.load_state_dict(best[1])
        self.network_ = network.eval()
        self.classes_ = tuple(str(c) for c in classes)
        self._frozen = None
        confusion = None
        if n_val:
            predicted = _predict(network, x[val], PREDICT_BATCH).argmax(axis=1)
            confusion = np.zeros((len(classes), len(classes)), dtype=int)
            np.add.at(confusion, (y[val], predicted), 1)
        self.history_ = {"epochs": history, "best_epoch": best[2] or len(history),
                         "train_maps": int(len(train)), "val_maps": int(n_val),
                         "seconds": time.perf_counter() - start,
                         "confusion": None if confusion is None else confusion.tolist(),
                         "class_counts": dict(zip(self.classes_, np.bincount(y).tolist()))}
        return self

    def fit(self, frames: Sequence[Frame], labels: Sequence[str | np.ndarray], progress=None) -> NMCNN:
        """Train on frames with one label per frame (str) or per atom (array of names)."""
        maps, names = [], []
        for frame, label in zip(frames, labels, strict=True):
            m = self.descriptor.compute(frame)
            maps.append(m)
            names.append(np.full(len(frame), label) if isinstance(label, str) else np.asarray(label, dtype=str))
        return self.fit_maps(np.concatenate(maps), np.concatenate(names), progress)

    # -- inference ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError("this NMCNN is not trained yet: call fit() or NMCNN.load()")

    def predict_proba(self, maps: np.ndarray) -> np.ndarray:
        """(n, n_classes) class probabilities of precomputed maps."""
        import torch

        self._check_fitted()
        x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
        if getattr(self, "_frozen", None) is None:
            self._frozen = frozen_network(self.network_, tuple(x.shape[1:]))
        return _predict(self._frozen, x, PREDICT_BATCH)

    def classify(self, frame: Frame, chunk: int = 32768) -> Labels:
        """Label every atom of ``frame``; maps are computed and classified in chunks."""
        return self._classify(frame, self.descriptor.prepare(frame), chunk)

    def classify_with_neighbors(self, frame: Frame, k: int) -> tuple[Labels, np.ndarray | None]:
        """:meth:`classify` and the indices (n, k) of every atom's ``k`` nearest neighbours,
        taken from the maps' own neighbour list (None when any atom has fewer than ``k`` in
        that list; the caller then searches): composition with :class:`~structid.models.neighbor_average.NeighborAveraged`
        without a second neighbour search."""
        prepared = self.descriptor.prepare(frame)
        nl = prepared[0]
        indices = None
        if len(frame) and nl.counts().min() >= k:
            indices = nl.j[nl.offsets[:-1, None] + np.arange(k)]
        return self._classify(frame, prepared), indices

    def _classify(self, frame: Frame, prepared, chunk: int = 32768) -> Labels:
        self._check_fitted()
        probabilities = np.zeros((len(frame), len(self.classes_)), dtype=np.float32)
        for atoms, maps in self.descriptor.iter_chunks(frame, chunk=chunk, reuse=True, prepared=prepared):
            probabilities[atoms] = self.predict_proba(maps)
        table = np.array([CODE[c] for c in self.classes_], dtype=np.int16)
        codes = table[probabilities.argmax(axis=1)] if len(frame) else np.zeros(0, np.int16)
        if self.min_confidence > 0:
            codes = np.where(probabilities.max(axis=1) < self.min_confidence, CODE["unknown"], codes)
        return Labels(codes=codes, classes=self.classes_, probabilities=probabilities, method=self.name)

    # -- files -------------------------------------------------------------------------------

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Write weights, classes, descriptor settings and training record to one file."""
        import io

        import torch

        self._check_fitted()
        payload = {
            "format": FILE_FORMAT, "version": FILE_VERSION, "classes": list(self.classes_),
            "descriptor": self.descriptor.params(), "state_dict": self.network_.state_dict(),
            "channels": self.descriptor.channels, "architecture": self.architecture,
            "history": _jsonable(getattr(self, "history_", {})), "metadata": metadata or {},
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return write_model(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, min_confidence: float = 0.0) -> NMCNN:
        """Read a model written by :meth:`save`; clear errors for corrupt or foreign files."""
        import torch

        payload = read_model(path, lambda p: torch.load(p, map_location="cpu", weights_only=True),
                             FILE_FORMAT, FILE_VERSION, "NM-CNN")
        for name in payload["classes"]:
            code_of(name)
        architecture = payload.get("architecture", "paper")
        model = cls(NeighborsMap(**payload["descriptor"]), min_confidence=min_confidence,
                    architecture=architecture)
        network = build_network(payload["channels"], len(payload["classes"]), architecture)
        size = payload["descriptor"]["size"]
        network(torch.zeros(2, payload["channels"], size, size))
        network.load_state_dict(payload["state_dict"])
        model.network_ = network.eval()
        model.classes_ = tuple(payload["classes"])
        model.history_ = payload.get("history", {})
        model.metadata_ = payload.get("metadata", {})
        return model


def _predict(network, x, batch: int) -> np.ndarray:
    """Softmax outputs of ``network`` on maps ``x``, ``batch`` maps per forward pass.

    Batches are shared among one single-threaded worker per torch thread: on small batches
    that is faster than splitting every convolution over the threads (1.3x on 2 cores).
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    network.eval()
    if not isinstance(network, torch.jit.ScriptModule):
        # channels-last convolutions run about twice as fast on CPU (docs/benchmarks.md)
        network = network.to(memory_format=torch.channels_last)
    starts = list(range(0, len(x), batch))
    if not starts:
        return np.zeros((0, 0), dtype=np.float32)
    parts: list = [None] * len(starts)

    def run(worker: int, workers: int) -> None:
        with torch.inference_mode():  # thread-local: entered in each worker
            for b in range(worker, len(starts), workers):
                chunk = x[starts[b]:starts[b] + batch].contiguous(memory_format=torch.channels_last)
                parts[b] = torch.softmax(network(chunk), dim=1).numpy()

    threads = torch.get_num_threads()
    workers = min(threads, len(starts))
    if workers <= 1:
        run(0, 1)
    else:
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, range(workers), [workers] * workers))
        finally:
            torch.set_num_threads(threads)
    return np.concatenate(parts)


def frozen_network(network, shape: tuple[int, ...]):
    """``network`` traced and frozen for inference: oneDNN convolutions with the weights
    pre-packed and ReLU fused in, 1.6x the eager throughput on 2 cores (docs/nmcnn.md).
    Outputs equal the eager network's to float32 rounding."""
    import warnings

    import torch

    network = copy.deepcopy(network).eval().to(memory_format=torch.channels_last)
    example = torch.zeros(2, *shape).contiguous(memory_format=torch.channels_last)
    # torch.jit is marked deprecated in favour of torch.compile, whose first call compiles C++
    # for tens of seconds; with torch pinned, the TorchScript path stays the fast one here
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(network, example)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def from_file(model: str | Path | None = None, min_confidence: float = 0.0) -> NMCNN:
    """A trained NM-CNN: the file ``model`` or a shipped model's name
    (default: the shipped ``nmcnn-metals``)."""
    from structid import pretrained

    return NMCNN.load(pretrained.resolve(model, "nmcnn-metals"), min_confidence)
