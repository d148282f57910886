"""Frames per second of `structid classify` on a trajectory: one process, a local Dask cluster
of 1 and 2 workers, and a running scheduler with two `dask worker` processes on loopback (how
several machines would join), and PTM on the same trajectory for scale.

    python benchmarks/parallel.py [--frames 16] [--cells 10] [--method nmcnn]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args: str) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "structid.cli", "classify", *args, "--force"],
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--cells", type=int, default=10, help="fcc cells per edge (4 atoms each)")
    parser.add_argument("--method", default="nmcnn")
    args = parser.parse_args()

    from structid import runtime
    from structid.io.writers import write_frames
    from structid.lattices import gaussian_noise, lattice

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = [gaussian_noise(lattice("fcc", 2.556, args.cells), 0.13, k) for k in range(args.frames)]
        dump = write_frames(tmp / "traj.lammpstrj", frames)
        n = len(frames[0])
        print(f"CPU: {runtime.cpu_model()}, {runtime.available_cores()} cores; {args.frames} frames of {n:,} atoms; "
              f"method {args.method}; times include start-up, reading and writing")
        rows = [("ptm, one process", _run(str(dump), "-m", "ptm", "-o", str(tmp / "p.lammpstrj")))]
        rows.append((f"{args.method}, one process", _run(str(dump), "-m", args.method, "-o", str(tmp / "a.lammpstrj"))))
        for workers in (1, 2):
            rows.append((f"{args.method}, --workers {workers}",
                         _run(str(dump), "-m", args.method, "-o", str(tmp / f"w{workers}.lammpstrj"), "--workers", str(workers))))
        port = _free_port()
        address = f"tcp://127.0.0.1:{port}"
        scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                      "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                     "--no-dashboard", "--name", f"machine-{k}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for k in range(2)]
        try:
            from distributed import Client

            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=60)
            rows.append((f"{args.method}, --scheduler (2 worker processes on loopback)",
                         _run(str(dump), "-m", args.method, "-o", str(tmp / "s.lammpstrj"), "--scheduler", address)))
        finally:
            for p in [*workers, scheduler]:
                p.terminate()
                p.wait(timeout=60)
        same = all((tmp / f"{name}.lammpstrj").read_bytes() == (tmp / "a.lammpstrj").read_bytes()
                   for name in ("w1", "w2", "s"))
        print("| run | seconds | frames/s |\n|---|---:|---:|")
        for name, seconds in rows:
            print(f"| {name} | {seconds:.1f} | {args.frames / seconds:.2f} |")
        print(f"outputs identical to the one-process run: {same}")


if __name__ == "__main__":
    main()
