"""Throughput of the registered methods on one frame, relative to OVITO's PTM in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable

from structid.frame import Frame
from structid.registry import get_classifier


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, s."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def benchmark_frame(d_nn: float = 2.556, noise: float = 0.05) -> Frame:
    """The reference frame: 100,800-atom fcc Cu with Gaussian noise of ``noise`` x d_nn."""
    from structid.lattices import gaussian_noise, lattice

    return gaussian_noise(lattice("fcc", d_nn, (30, 30, 28), species="Cu"), noise * d_nn, rng=0)


def time_methods(frame: Frame, methods: list[str], repeats: int = 3) -> list[tuple[str, float]]:
    """(method, seconds) for each method, PTM first (the reference)."""
    names = ["ptm"] + [m for m in methods if m != "ptm"]
    return [(name, best_time(lambda c=get_classifier(name): c.classify(frame), repeats))
            for name in names]


def speed_table(frame: Frame, tasks: dict[str, Callable[[], object]], repeats: int = 3) -> str:
    """Markdown table of ``tasks`` (name -> call) on ``frame``: seconds, atoms/s and throughput
    relative to OVITO's PTM, which is timed first in the same run."""
    from structid.classical import PTM

    n = len(frame)
    timed = [("OVITO PTM", best_time(lambda: PTM().classify(frame), repeats))]
    timed += [(name, best_time(fn, repeats)) for name, fn in tasks.items()]
    ptm = timed[0][1]
    lines = ["| task | seconds | atoms/s | × PTM |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {seconds:.2f} | {n / seconds:,.0f} | {ptm / seconds:.3f} |" for name, seconds in timed]
    return "\n".join(lines)
