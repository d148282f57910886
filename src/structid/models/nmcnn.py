"""The CNN classifier on Neighbors Maps (Allera et al. 2023, Appendix A), in PyTorch.

``NMCNN`` is an :class:`~structid.models.base.Estimator`: one model file holds the weights, the
class names, every setting (the descriptor's included) and the training record.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from structid.descriptors.neighbors_map import NeighborsMap
from structid import runtime
from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.labels import code_of
from structid.models.base import ProbabilisticClassifier, labels_per_atom
from structid.neighbors import CONDENSED_DISTANCE, NeighborList, Neighbors

#: maps per forward pass at inference: small batches keep the activations in the CPU cache,
#: several times faster than thousands of maps at once (docs/benchmarks.md)
PREDICT_BATCH = 64
#: atoms whose maps are held in memory at once (4 kB each at N = 32)
CHUNK = 32768
#: an atom with fewer neighbours in its ball than this share of N is isolated (no class); the
#: ball is sized for N, so even with half of the atoms missing it holds ~N
MIN_BALL_SHARE = 0.25


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


class NMCNN(ProbabilisticClassifier):
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
        threads: torch CPU threads for training (default: torch's choice).
        architecture: ``paper`` (Appendix A) or a variant with the same layers and fewer
            multiply-adds (see :func:`build_network`; compared in docs/nmcnn.md).
    """

    name = "nmcnn"
    kind = "nmcnn"
    version = 2
    learned = "network_"

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
        self.descriptor = descriptor if descriptor is not None else NeighborsMap(scale="auto")
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.val_fraction = val_fraction
        self.min_confidence = min_confidence
        self.seed = seed
        self.threads = threads
        self.architecture = architecture

    # -- training ----------------------------------------------------------------------------

    def fit(self, frames: Sequence[Frame], labels: Sequence[str | np.ndarray], progress=None) -> NMCNN:
        """Train on frames with one label per frame (str) or per atom (array of names)."""
        frames = list(frames)
        maps = [self.descriptor.compute(frame) for frame in frames]
        return self.fit_descriptors(np.concatenate(maps), np.concatenate(labels_per_atom(frames, labels)), progress)

    def fit_descriptors(self, maps: np.ndarray, labels: Sequence[str], progress=None) -> NMCNN:
        """Train on precomputed maps (n, C, N, N) and their structure names.

        Classes are weighted by inverse frequency; ``progress`` gets one dict per epoch; the
        validation accuracy and confusion matrix go to ``history_``; the weights of the epoch
        that validated best are kept.
        """
        import torch
        from torch import nn

        labels = np.asarray(labels, dtype=str)
        if len(maps) != len(labels):
            raise InputError(f"{len(maps)} maps but {len(labels)} labels")
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, got {self.epochs}")
        for name in np.unique(labels):
            code_of(str(name))
        classes, y = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise InputError(f"need at least two classes to train, got {[str(c) for c in classes]}")
        if self.threads:
            torch.set_num_threads(self.threads)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(maps))
        n_val = int(round(self.val_fraction * len(maps)))
        val, train = order[:n_val], order[n_val:]
        x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
        target = torch.from_numpy(y.astype(np.int64))
        counts = np.bincount(y[train], minlength=len(classes)).astype(float)
        class_weight = torch.tensor(counts.sum() / (len(classes) * np.maximum(counts, 1)), dtype=torch.float32)
        # a private random stream: training leaves torch's global generator as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            network = build_network(maps.shape[1], len(classes), self.architecture)
            network(x[:2])  # materialise the lazy layer
            optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate,
                                         weight_decay=self.weight_decay)
            loss_fn = nn.CrossEntropyLoss(weight=class_weight)
            # cosine decay to 5 % over all batches: the last epochs refine instead of jumping
            batches = self.epochs * max(1, -(-len(train) // self.batch_size))
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda k: 0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(k / batches, 1.0))))
            history, best = [], ((-1.0, -np.inf), None, 0)
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
                    proba = _predict(network, x[val], PREDICT_BATCH)
                    entry["val_accuracy"] = float(np.mean(proba.argmax(axis=1) == y[val]))
                    entry["val_loss"] = float(-np.mean(np.log(np.maximum(proba[np.arange(n_val), y[val]], 1e-12))))
                    # ties in accuracy (a small validation set at 100 %) go to the lower loss:
                    # the first epoch to reach 100 % is rarely the one that generalises
                    if (entry["val_accuracy"], -entry["val_loss"]) > best[0]:
                        best = ((entry["val_accuracy"], -entry["val_loss"]), copy.deepcopy(network.state_dict()), epoch + 1)
                history.append(entry)
                if progress:
                    progress(entry)
        if best[1] is not None:
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
        self.metadata_ = {}
        return self

    # -- inference ---------------------------------------------------------------------------

    def predict_proba_descriptors(self, maps: np.ndarray) -> np.ndarray:
        """(n, n_classes) class probabilities of precomputed maps."""
        torch = runtime.torch_ready()
        self.check_fitted()
        x = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))
        if runtime.device() != "cpu":
            # the frozen TorchScript network is a CPU (oneDNN) program: other devices run the eager one
            network = self.network_.to(runtime.device()).eval()
            with torch.inference_mode():
                parts = [torch.softmax(network(x[s:s + PREDICT_BATCH].to(runtime.device())), dim=1).cpu().numpy()
                         for s in range(0, len(x), PREDICT_BATCH)]
            return np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)), dtype=np.float32)
        if getattr(self, "_frozen", None) is None:
            self._frozen = frozen_network(self.network_, tuple(x.shape[1:]))
        return _predict(self._frozen, x, PREDICT_BATCH)

    @property
    def reach(self) -> float:
        """How far (first-shell distances) an atom's label looks: its map's ball (the adaptive
        ball is 1.05 x the 95th percentile of the 32nd-neighbour distance, about 2.1 in a hot
        liquid), with a margin."""
        if self.descriptor.r_cut is not None and self.descriptor.scale == "auto":
            return float(self.descriptor.r_cut) * 1.05
        return 3.0

    def find_neighbors(self, frame: Frame) -> NeighborList:
        return self.descriptor.find_neighbors(frame)

    def predict_proba(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n, n_classes) probabilities of every atom; maps are made and classified
        :data:`CHUNK` atoms at a time. Atoms with fewer than :data:`MIN_BALL_SHARE` x N
        neighbours in their ball (isolated), and every atom of a frame whose nearest-neighbour
        distance exceeds :data:`~structid.neighbors.CONDENSED_DISTANCE` (a gas), get no
        probability (zeros), which labels them ``other``."""
        self.check_fitted()
        frame = as_frame(frame)
        probabilities = np.zeros((len(frame), len(self.classes_)), dtype=np.float32)
        if len(frame) == 0:
            return probabilities
        nl = self.descriptor.resolve_neighbors(frame, neighbors)
        if self.descriptor.list_scale(frame, nl) > CONDENSED_DISTANCE:
            return probabilities  # a gas: lengths in its own unit would make it look condensed
        # with lengths in neighbour distances, row 0 counts the neighbours within 3 of them (a
        # ball of a few atoms in a huge box reaches their distant images)
        floor = 3.0 ** -self.descriptor.gamma if self.descriptor.scale == "auto" else np.finfo(np.float32).tiny
        for atoms, maps in self.descriptor.iter_chunks(frame, chunk=CHUNK, reuse=True, neighbors=nl):
            # row 0 holds one pixel per neighbour in the ball
            alone = np.count_nonzero(maps[:, 0, 0, :] >= floor, axis=1) < MIN_BALL_SHARE * maps.shape[-1]
            probabilities[atoms] = self.predict_proba_descriptors(maps)
            probabilities[atoms[alone]] = 0.0  # no neighbourhood to classify: labelled other
        return probabilities

    # -- files -------------------------------------------------------------------------------

    def _encode_params(self) -> dict:
        return {**self.get_params(), "descriptor": self.descriptor.params()}

    @classmethod
    def _decode_params(cls, params: dict) -> dict:
        return {**params, "descriptor": NeighborsMap(**params["descriptor"])}

    def _get_state(self) -> dict:
        return {"classes": list(self.classes_), "channels": self.descriptor.channels,
                "network": self.network_.state_dict()}

    def _set_state(self, state: dict) -> None:
        import torch

        for name in state["classes"]:
            code_of(name)
        network = build_network(state["channels"], len(state["classes"]), self.architecture)
        size = self.descriptor.size
        network(torch.zeros(2, state["channels"], size, size))
        network.load_state_dict(state["network"])
        self.network_ = network.eval()
        self.classes_ = tuple(state["classes"])
        self._frozen = None

    @classmethod
    def _upgrade(cls, payload: Any) -> Any:
        # version 1 files (format "structid-nmcnn") kept the settings beside the weights
        if isinstance(payload, dict) and payload.get("format") == "structid-nmcnn" and payload.get("version") == 1:
            return {"format": "structid-model", "kind": cls.kind, "version": cls.version,
                    "params": {"descriptor": payload["descriptor"],
                               "architecture": payload.get("architecture", "paper")},
                    "state": {"classes": payload["classes"], "channels": payload["channels"],
                              "network": payload["state_dict"]},
                    "history": payload.get("history", {}), "metadata": payload.get("metadata", {})}
        return payload


def _predict(network, x, batch: int) -> np.ndarray:
    """Softmax outputs of ``network`` on maps ``x``, ``batch`` maps per forward pass.

    Batches are shared among one single-threaded worker per torch thread: on small batches
    that is faster than splitting every convolution over the threads (docs/benchmarks.md).
    """
    import torch

    network.eval()
    if not isinstance(network, torch.jit.ScriptModule):
        # channels-last convolutions run faster on CPU (docs/benchmarks.md)
        network = network.to(memory_format=torch.channels_last)
    starts = list(range(0, len(x), batch))
    if not starts:
        return np.zeros((0, 0), dtype=np.float32)
    parts: list = [None] * len(starts)

    def run(worker: int, workers: int) -> None:
        # flushing denormals is a per-thread CPU flag: set it in every worker (8x on some Xeons)
        torch.set_flush_denormal(True)
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
    pre-packed and ReLU fused in, faster than the eager network (docs/nmcnn.md). Outputs
    equal the eager network's to float32 rounding."""
    import torch

    network = copy.deepcopy(network).eval().to(memory_format=torch.channels_last)
    example = torch.zeros(2, *shape).contiguous(memory_format=torch.channels_last)
    # torch.jit is marked deprecated in favour of torch.compile, whose first call compiles C++
    # for tens of seconds; with torch pinned, the TorchScript path stays the fast one here
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(network, example)))
