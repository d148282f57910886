"""The estimator base every trainable model shares, and its file envelope.

Habits taken from scikit-learn: ``__init__`` stores its arguments and does nothing else;
``fit`` validates, learns and returns ``self``; learned state ends in ``_``; using a model
before ``fit`` or ``load`` raises :class:`~structid.errors.NotFittedError`; ``get_params``
returns the constructor arguments, which :meth:`Estimator.save` writes so that
:meth:`Estimator.load` restores every setting.

A model file is one envelope: ``{"format": "structid-model", "kind": ..., "version": ...,
"params": ..., "state": ..., "history": ..., "metadata": ..., "digest": ...}``, written with
``torch.save`` and read with ``torch.load(weights_only=True)``: plain data and tensors only, so a
model file cannot run code when it is loaded (the scikit-learn ensembles travel inside it as a
skops blob, LightGBM as its text model; see :mod:`structid.models.less`). ``digest`` is the
SHA-256 of the rest of the content, checked at load, so a damaged file is refused instead of
giving wrong labels.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import struct
import warnings
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

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Write the fitted model (parameters, learned state, training record, ``metadata``;
        by default the metadata it was loaded with) to one file, atomically."""
        self.check_fitted()
        if metadata is None:
            metadata = getattr(self, "metadata_", {})
        payload = {"format": FILE_FORMAT, "kind": self.kind, "version": self.version,
                   "params": self._encode_params(), "state": self._get_state(),
                   "history": jsonable(getattr(self, "history_", {})), "metadata": jsonable(metadata)}
        payload["digest"] = content_digest(payload)
        return _write(path, _encode(payload))

    @classmethod
    def load(cls, path: str | Path, **overrides: Any):
        """Read a model written by :meth:`save`; ``overrides`` change constructor arguments
        (e.g. ``min_confidence``). Every problem with the file is one :class:`InputError`."""
        path = Path(path)
        payload = cls._upgrade(_read(path))
        kind = f"{cls.kind} model"
        if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT or payload.get("kind") != cls.kind:
            raise InputError(f"{path}: not a structid {kind} file")
        if "digest" in payload and payload["digest"] != content_digest(payload):
            raise InputError(f"{path}: the {kind} file is damaged (its content does not match its SHA-256 "
                             "digest); reinstall structid for a shipped model, or retrain")
        if payload.get("version") != cls.version:
            raise InputError(f"{path}: {kind} file version {payload.get('version')}, this structid reads "
                             f"version {cls.version}; retrain the model")
        missing = [key for key in ("params", "state") if not isinstance(payload.get(key), dict)]
        if missing:
            raise InputError(f"{path}: damaged {kind} file: no {' or '.join(missing)} in it")
        params = {**cls._decode_params(dict(payload["params"])), **overrides}
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise InputError(f"{path}: unknown parameter(s) {', '.join(unknown)} in the {kind} file")
        model = cls(**params)
        try:
            model._set_state(payload["state"])
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            # a state whose keys or tensor shapes do not fit the model (edited or foreign file)
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise InputError(f"{path}: damaged {kind} file: {type(exc).__name__}: {detail}") from None
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


def content_digest(payload: dict) -> str:
    """SHA-256 (hex) of an envelope's content, every key but ``digest``: dicts in key order,
    tensors and arrays by dtype, shape and bytes, everything else by type and value."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "digest"})
    return h.hexdigest()


def _feed(h, value: Any) -> None:
    if isinstance(value, dict):
        h.update(b"d%d" % len(value))
        for key in sorted(value, key=str):
            _feed(h, str(key))
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(b"l%d" % len(value))
        for item in value:
            _feed(h, item)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data) + data)
    elif isinstance(value, (bytes, bytearray)):
        h.update(b"b%d:" % len(value) + bytes(value))
    elif isinstance(value, bool) or value is None:
        h.update(repr(value).encode())
    elif isinstance(value, int):
        h.update(b"i" + str(value).encode() + b";")
    elif isinstance(value, float):
        h.update(b"f" + struct.pack("<d", value))
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        h.update(f"a{array.dtype.str}{array.shape}".encode() + array.tobytes())
    elif type(value).__module__.startswith("torch"):
        import torch

        array = value.detach().cpu().contiguous()
        h.update(f"t{array.dtype}{tuple(array.shape)}".encode())
        h.update(array.reshape(-1).view(torch.uint8).numpy().tobytes() if array.numel() else b"")
    else:
        h.update(f"o{type(value).__name__}:{value!r}".encode())


def bytes_tensor(data: bytes):
    """``data`` as a uint8 tensor: how a model file stores a blob (torch's pickle would store
    ``bytes`` as latin-1 text, 1.5x larger)."""
    import torch

    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)


def tensor_bytes(tensor) -> bytes:
    """The blob stored by :func:`bytes_tensor`."""
    import torch

    if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.uint8 or tensor.dim() != 1:
        raise ValueError("expected a 1-d uint8 tensor holding a blob")
    return tensor.numpy().tobytes()


def _encode(payload: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


#: how a model file written by structid 0.1 with pickle starts (an lzma stream)
_LZMA_MAGIC = b"\xfd7zXZ\x00"


def _read(path: Path) -> Any:
    import torch

    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    with open(path, "rb") as f:
        head = f.read(6)
    if head == _LZMA_MAGIC:
        raise InputError(f"{path}: a pickled model (structid 0.1 LESS format), which can run code when it "
                         "is loaded, so structid no longer reads it; retrain it, or convert a file you "
                         "made yourself with structid.models.less.convert_pickled(OLD, NEW)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about foreign pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged or foreign files raise many kinds; pickles with code are refused here
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise InputError(f"{path}: not a readable structid model ({type(exc).__name__}"
                         f"{': ' + detail if detail else ''}); retrain it or reinstall structid") from None


def _write(path: str | Path, data: bytes) -> Path:
    with AtomicFile(path, force=True) as out:
        out.write(data)
    return Path(path)
