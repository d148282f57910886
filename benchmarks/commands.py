"""Whole-command time of `structid classify FILE -o OUT` for each method against PTM's: start-up,
model loading, reading, classifying and writing, as a user runs it, on the speed benchmark's
100,800-atom noisy fcc frame written as a LAMMPS dump.

    python benchmarks/commands.py [--methods ptm,default,nmcnn,less] [--repeats 2] [--threads N]

`default` is `structid classify FILE` with no `-m`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(dump: Path, out: Path, method: str, threads: int | None) -> float:
    args = [sys.executable, "-m", "structid.cli", "classify", str(dump), "-o", str(out), "--force"]
    if method != "default":
        args += ["-m", method]
    if threads:
        args += ["--threads", str(threads)]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{method}: {result.stderr.strip()}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="ptm,default")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each command (the best counts)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from structid import runtime
    from structid.bench.speed import benchmark_frame
    from structid.io.writers import write_frames

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "ptm" not in methods:
        methods.insert(0, "ptm")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frame = benchmark_frame()
        dump = write_frames(tmp / "frame.lammpstrj", [frame])
        threads = args.threads or runtime.available_cores()
        print(f"CPU: {runtime.cpu_model()}; {threads} thread(s) of {runtime.available_cores()} available core(s); "
              f"{len(frame):,} atoms; best of {args.repeats}; start-up, reading and writing included")
        seconds = {m: min(_run(dump, tmp / f"{m}.lammpstrj", m, args.threads) for _ in range(args.repeats))
                   for m in methods}
    print("| command | seconds | x PTM's time |\n|---|---:|---:|")
    for m in methods:
        command = "structid classify FILE" + ("" if m == "default" else f" -m {m}")
        print(f"| `{command}` | {seconds[m]:.2f} | {seconds[m] / seconds['ptm']:.2f} |")


if __name__ == "__main__":
    main()
