"""Throughput of the registered methods on one frame, relative to OVITO's PTM in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable

from structid.frame import Frame
from structid.registry import get_denoiser, pipeline


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls, s."""
    return best_times({"": fn}, repeats)[""]


def best_times(calls: dict[str, Callable[[], object]], repeats: int = 3) -> dict[str, float]:
    """Shortest wall time of each call, s, over ``repeats`` rounds that run every call: when the
    machine speeds up or slows down during the run (shared VMs do), all calls see
    it alike and their ratios stay fair. In a round each call runs twice and the second run is
    timed: the first run after another method is slower (caches, fresh memory), which no user running one method would see."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeats):
        for name, fn in calls.items():
            if len(calls) > 1:
                fn()
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def benchmark_frame(d_nn: float = 2.556, noise: float = 0.05) -> Frame:
    """The reference frame: 100,800-atom fcc Cu with Gaussian noise of ``noise`` x d_nn."""
    from structid.lattices import gaussian_noise, lattice

    return gaussian_noise(lattice("fcc", d_nn, (30, 30, 28), species="Cu"), noise * d_nn, rng=0)


def time_methods(frame: Frame, methods: list[str], repeats: int = 3, denoise: int = 0) -> list[tuple[str, float]]:
    """(method, seconds) for each method, PTM first (the reference); with ``denoise``, also that
    many denoising steps of the default denoiser (tolerance 0: every step runs)."""
    names = ["ptm"] + [m for m in methods if m != "ptm"]
    calls = {name: (lambda c=pipeline(name): c.classify(frame)) for name in names}
    if denoise:
        net = get_denoiser()
        calls[f"denoise {denoise}"] = lambda: net.denoise(frame, denoise, tolerance=0.0)
    return list(best_times(calls, repeats).items())


def speed_table(frame: Frame, tasks: dict[str, Callable[[], object]], repeats: int = 3) -> str:
    """Markdown table of ``tasks`` (name -> call) on ``frame``: seconds, atoms/s and throughput
    relative to OVITO's PTM, timed in the same rounds (:func:`best_times`)."""
    from structid.classical import PTM

    n = len(frame)
    timed = list(best_times({"OVITO PTM": lambda: PTM().classify(frame), **tasks}, repeats).items())
    ptm = timed[0][1]
    lines = ["| task | seconds | atoms/s | × PTM |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {seconds:.2f} | {n / seconds:,.0f} | {ptm / seconds:.3f} |" for name, seconds in timed]
    return "\n".join(lines)
