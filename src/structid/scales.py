"""Frame-wide scales: statistics over all atoms of a frame that its methods work with (the
median nearest-neighbour distance, the median Steinhardt cutoff, the Neighbors Map's ball, the
species present).

A spatial tile of a frame (:mod:`structid.tiles`) holds only part of the atoms, and its own
statistics would differ from the frame's. So a tiled run first gathers every scale's per-atom
values over the atoms each tile owns, reduces them once (:func:`pin_scales`), and hands each
tile the frame's values in ``frame.info[PINNED]``; a method asks :func:`frame_value`, which
returns the pinned value on a tile and computes it on a whole frame. A scale is the same
function of per-atom values in both cases, so the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from structid.frame import Frame

#: ``frame.info`` key of the pinned scales (a dict: scale key -> value)
PINNED = "pinned_scales"
#: ``frame.info`` key of a tile's number of owned atoms (they come first)
OWNED = "tile_owned"


class Scale:
    """A frame-wide statistic: ``per_atom(frame)`` gives one row of values per atom (the
    frame's atoms, or a tile's, of which the owned rows are kept), ``reduce(values, frame)``
    the statistic of all atoms' rows (``frame``: the whole frame, for its size and volume)."""

    key: str = ""

    def per_atom(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError

    def reduce(self, values: np.ndarray, frame: Frame) -> Any:
        raise NotImplementedError


def frame_value(frame: Frame, scale: Scale, values: Callable[[], np.ndarray] | None = None) -> Any:
    """``scale`` of ``frame``: pinned on a tile, else reduced from ``values()`` (the per-atom
    values the caller has at hand) or from :meth:`Scale.per_atom`."""
    pinned = frame.info.get(PINNED)
    if pinned is not None:
        if scale.key not in pinned:
            # a method used a scale its classifier did not declare: the tiles would disagree
            raise RuntimeError(f"scale {scale.key!r} is not pinned on this tile; declare it in frame_scales()")
        return pinned[scale.key]
    return scale.reduce(values() if values is not None else scale.per_atom(frame), frame)


def pinned(frame: Frame, scale: Scale) -> Any:
    """``scale``'s pinned value on a tile, None on a whole frame (which computes it itself)."""
    if frame.info.get(PINNED) is None:
        return None
    return frame_value(frame, scale)


def owned_atoms(frame: Frame) -> int | None:
    """How many of ``frame``'s first atoms a tile owns (None: a whole frame)."""
    return frame.info.get(OWNED)


def declared_scales(classifier: Any) -> list[Scale]:
    """The scales ``classifier`` and every classifier it is composed of declare
    (``frame_scales()``), each once."""
    found: dict[str, Scale] = {}
    seen: set[int] = set()

    def visit(obj: Any) -> None:
        if id(obj) in seen or obj is None or isinstance(obj, (str, int, float, np.ndarray)):
            return
        seen.add(id(obj))
        declare = getattr(obj, "frame_scales", None)
        if callable(declare):
            for scale in declare():
                found.setdefault(scale.key, scale)
        if isinstance(obj, dict):
            children: Iterable = obj.values()
        elif isinstance(obj, (list, tuple)):
            children = obj
        else:
            children = getattr(obj, "__dict__", {}).values()
        for child in children:
            if isinstance(child, (dict, list, tuple)) or hasattr(child, "classify") or hasattr(child, "frame_scales"):
                visit(child)

    visit(classifier)
    return list(found.values())


def pin_scales(frame: Frame, tiling, scales: list[Scale]) -> dict[str, Any]:
    """Every scale of ``frame``, gathered a tile of ``tiling`` at a time."""
    scales = list({s.key: s for s in scales}.values())  # a scale named twice is gathered once
    if not scales:
        return {}
    parts: dict[str, list[np.ndarray]] = {s.key: [] for s in scales}
    order = []
    for tile in tiling.tiles():
        sub = tile_frame(frame, tile)
        for scale in scales:
            parts[scale.key].append(np.asarray(scale.per_atom(sub))[: tile.n_owned])
        order.append(tile.owned)
    # rows in the frame's atom order, as a whole-frame run has them
    where = np.argsort(np.concatenate(order), kind="stable")
    return {s.key: s.reduce(np.concatenate(parts[s.key])[where], frame) for s in scales}


def tile_frame(frame: Frame, tile, pinned: dict[str, Any] | None = None,
               positions: np.ndarray | None = None) -> Frame:
    """``tile`` of ``frame`` as a frame that knows it is a tile (and the frame's ``pinned``
    scales when given)."""
    sub = tile.frame(frame, positions)
    info = {**sub.info, OWNED: tile.n_owned}
    if pinned is not None:
        info[PINNED] = pinned
    return sub.replace(info=info)


class Species(Scale):
    """The species present in the frame (a sorted tuple of names)."""

    key = "species"

    def per_atom(self, frame: Frame) -> np.ndarray:
        return np.asarray(frame.species)

    def reduce(self, values: np.ndarray, frame: Frame) -> tuple[str, ...]:
        return tuple(sorted(set(np.unique(values).tolist())))
