"""Which frames of a trajectory to use: ``--frames 0-10,20,50-`` and ``--every N``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from structid.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class FrameSelection:
    """Frame numbers (0-based) in ``ranges`` (inclusive start, inclusive stop or None for
    open-ended; empty = all), then every ``every``-th of those."""

    ranges: tuple[tuple[int, int | None], ...] = ()
    every: int = 1

    @classmethod
    def parse(cls, frames: str | None = None, every: int | None = None) -> FrameSelection:
        """From the command-line forms: ``"60-80"``, ``"0,5,10-"``, ``every=10``."""
        if every is not None and every < 1:
            raise InputError(f"--every must be at least 1, got {every}")
        ranges = []
        for part in (frames or "").split(","):
            part = part.strip()
            if not part:
                continue
            lo, dash, hi = part.partition("-")
            try:
                start = int(lo)
                stop = (int(hi) if hi.strip() else None) if dash else start
            except ValueError:
                raise InputError(f"--frames: cannot read {part!r}; write frame numbers and ranges like 0-10,20,50-") from None
            if start < 0 or (stop is not None and stop < start):
                raise InputError(f"--frames: {part!r} is not a range of frame numbers (0-based, start <= stop)")
            ranges.append((start, stop))
        if frames is not None and not ranges:
            raise InputError("--frames: no frame numbers given")
        return cls(tuple(ranges), every or 1)

    @property
    def everything(self) -> bool:
        return not self.ranges and self.every == 1

    def wanted(self, k: int) -> bool:
        """Whether frame ``k`` is in the ranges (before ``every`` thins them)."""
        return not self.ranges or any(lo <= k and (hi is None or k <= hi) for lo, hi in self.ranges)

    def last(self) -> int | None:
        """The last frame number any range can select (None: open-ended)."""
        if not self.ranges or any(hi is None for _, hi in self.ranges):
            return None
        return max(hi for _, hi in self.ranges)

    def apply(self, items: Iterable[T], where: str = "") -> Iterator[tuple[int, T]]:
        """(frame number, item) of the selected items; stops reading after the last range and
        raises :class:`InputError` when nothing was selected."""
        last, chosen, seen = self.last(), 0, 0
        for k, item in enumerate(items):
            seen = k + 1
            if last is not None and k > last:
                break
            if not self.wanted(k):
                continue
            if chosen % self.every == 0:
                yield k, item
            chosen += 1
        if chosen == 0:
            raise InputError(f"{where + ': ' if where else ''}the frame selection picks no frame "
                             f"(the file has {seen} frame(s) from 0 on)")
