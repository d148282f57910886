"""The estimator base every trainable model shares, and its file envelope.

Habits taken from scikit-learn: ``__init__`` stores its arguments and does nothing else;
``fit`` validates, learns and returns ``self``; learned state ends in ``_``; using a model
before ``fit`` or ``load`` raises :class:`~structid.errors.NotFittedError`; ``get_params``
returns the constructor arguments, which :meth:`Estimator.save` writes so that
:meth:`Estimator.load` restores every setting.

A model file is one envelope: ``{"format": "structid-model", "kind": ..., "version": ...,
"params": ..., "state": ..., "history": ..., "metadata": ...}``, serialised by the model's
codec (torch tensors for the networks, compressed pickle for the scikit-learn ensembles).
"""

from __future__ import annotations

import inspect
import io
import lzma
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from structid.errors import InputError, NotFittedError
from structid.frame import Frame, as_frame
from structid.io.writers import AtomicFile
from structid.labels import Labels
from structid.neighbors import NeighborList, Neighbors

FILE_FORMAT = "structid-model"


class Estimator:
    """Base of trainable models (see the module docstring).

    Subclasses set ``name`` (the method name), ``kind`` and ``version`` (of their file state),
    ``learned`` (an attribute that exists once fitted) and implement ``_get_state`` /
    ``_set_state``; ``_encode_params`` / ``_decode_params`` turn parameters that are objects
    (a descriptor) into plain data and back.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    version: ClassVar[int] = 1
    learned: ClassVar[str] = "classes_"

    # -- parameters ----------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments of this model."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Change constructor arguments; returns ``self``."""
        unknown = sorted(set(params) - set(self._param_names()))
        if unknown:
            raise InputError(f"{type(self).__name__} has no parameter(s) {', '.join(unknown)}; "
                             f"it takes {', '.join(self._param_names())}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        shown = [f"{k}={v!r}" for k, v in self.get_params().items()
                 if not (k in defaults and _same(defaults[k].default, v))]
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- fitted state --------------------------------------------------------------------

    def is_fitted(self) -> bool:
        return hasattr(self, self.learned)

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the model was fitted or loaded."""
        if not self.is_fitted():
            cls = type(self).__name__
            raise NotFittedError(f"this {cls} is not fitted yet: call fit() or {cls}.load(path)")

    def _get_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _encode_params(self) -> dict[str, Any]:
        return self.get_params()

    @classmethod
    def _decode_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        return params

    # -- files ---------------------------------------------------------------------------

    #: how the envelope becomes bytes: "torch" (weights-only loadable) or "pickle"
    codec: ClassVar[str] = "torch"

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Write the fitted model (parameters, learned state, training record, ``metadata``;
        by default the metadata it was loaded with) to one file, atomically."""
        self.check_fitted()
        if metadata is None:
            metadata = getattr(self, "metadata_", {})
        payload = {"format": FILE_FORMAT, "kind": self.kind, "version": self.version,
                   "params": self._encode_params(), "state": self._get_state(),
                   "history": jsonable(getattr(self, "history_", {})), "metadata": jsonable(metadata)}
        return _write(path, _encode(payload, self.codec))

    @classmethod
    def load(cls, path: str | Path, **overrides: Any):
        """Read a model written by :meth:`save`; ``overrides`` change constructor arguments
        (e.g. ``min_confidence``). Every problem with the file is one :class:`InputError`."""
        path = Path(path)
        payload = cls._upgrade(_read(path, cls.codec))
        kind = f"{cls.kind} model"
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT or payload.get("kind") != cls.kind:
            raise InputError(f"{path}: not a structid {kind} file")
        if payload.get("version") != cls.version:
            raise InputError(f"{path}: {kind} file version {payload.get('version')}, this structid reads "
                             f"version {cls.version}; retrain the model")
        params = {**cls._decode_params(dict(payload["params"])), **overrides}
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise InputError(f"{path}: unknown parameter(s) {', '.join(unknown)} in the {kind} file")
        model = cls(**params)
        model._set_state(payload["state"])
        model.history_ = payload.get("history") or {}
        model.metadata_ = payload.get("metadata") or {}
        return model

    @classmethod
    def _upgrade(cls, payload: Any) -> Any:
        """The envelope of an older file layout in the current one (default: unchanged)."""
        return payload


class ProbabilisticClassifier(Estimator):
    """A trainable classifier that gives per-class probabilities. Subclasses implement
    :meth:`predict_proba`; :meth:`classify` follows from it. Needs ``min_confidence`` among
    the constructor arguments and ``classes_`` once fitted."""

    min_confidence: float

    def predict_proba(self, frame: Frame, neighbors: Neighbors = None) -> np.ndarray:
        """(n, len(classes_)) float32 class probabilities of every atom of ``frame``."""
        raise NotImplementedError

    def find_neighbors(self, frame: Frame) -> NeighborList | None:
        """The neighbour list :meth:`predict_proba` would search for ``frame`` (None: it has no
        single one). A composition searches it once and hands it to every stage."""
        return None

    def classify(self, frame: Frame, neighbors: Neighbors = None) -> Labels:
        """Label every atom of ``frame``: the most likely class, ``unknown`` below
        ``min_confidence``, with the probabilities."""
        self.check_fitted()
        frame = as_frame(frame)
        return Labels.from_probabilities(self.predict_proba(frame, neighbors), self.classes_,
                                         self.min_confidence, method=self.name)


def labels_per_atom(frames, labels) -> list[np.ndarray]:
    """One array of names per frame from one label per frame (str) or per atom (array)."""
    return [np.full(len(frame), label) if isinstance(label, str) else np.asarray(label, dtype=str)
            for frame, label in zip(frames, labels, strict=True)]


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars and tuples made plain (what every codec can store)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays, objects without a truth value
        return a is b


def _encode(payload: dict, codec: str) -> bytes:
    if codec == "torch":
        import torch

        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()
    # lzma: tree ensembles compress well
    return lzma.compress(pickle.dumps(payload, protocol=5), preset=6)


def _read(path: Path, codec: str) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    try:
        if codec == "torch":
            import torch

            return torch.load(path, map_location="cpu", weights_only=True)
        return pickle.loads(lzma.decompress(path.read_bytes()))
    except Exception as exc:  # deserialisers raise many kinds on damaged or foreign files
        raise InputError(f"{path}: not a readable structid model ({type(exc).__name__}); "
                         "retrain it or reinstall structid") from None


def _write(path: str | Path, data: bytes) -> Path:
    with AtomicFile(path, force=True) as out:
        out.write(data)
    return Path(path)
