"""Peak memory (RSS) and time of pipelines on one big frame, each in a fresh process, with
OVITO's PTM on the same frame for the ratio.

The frame is fcc Cu with Gaussian noise of 0.05 first-shell distances (the speed benchmark's,
grown to about ``--atoms`` atoms); with ``--noise 0.3`` it is liquid-like (the templates find
almost nothing, so the default pipeline's ML stage labels every atom). Each pipeline runs in
its own child process, so that its peak resident set size (``ru_maxrss``) is its own: frame,
models, neighbour lists and all. A method ``NAME/N`` runs with ``max_atoms=N`` (spatial tiles
of about N atoms); ``NAME/auto`` sizes the tiles to the memory available, which ``--memory``
caps (as ``$STRUCTID_MEMORY`` does for ``structid classify``).

    python benchmarks/memory.py [--atoms 1000000] [--methods ptm,default,default/250000]
                                [--noise 0.05] [--threads 1] [--memory 4G]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def _child(method: str, cells: int, threads: int | None, noise: float) -> None:
    """Run in the child: build the frame, label it, print one JSON line."""
    import resource
    import time

    import numpy as np

    from structid import runtime

    runtime.configure(threads, "cpu")
    from structid.lattices import gaussian_noise, lattice
    from structid.models.compose import Tiled
    from structid.registry import build_pipeline, default_pipeline, pipeline

    frame = gaussian_noise(lattice("fcc", 2.556, (cells,) * 3, species="Cu"), noise * 2.556, rng=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    spec, _, max_atoms = method.partition("/")
    if not max_atoms:
        classifier = pipeline(spec)
    elif spec == "default":
        classifier = default_pipeline(max_atoms=max_atoms if max_atoms == "auto" else int(max_atoms))
    elif max_atoms == "auto":
        classifier = build_pipeline(spec, max_atoms="auto")
    else:
        classifier = Tiled(pipeline(spec), int(max_atoms))
    start = time.perf_counter()
    labels = classifier.classify(frame)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    names, counts = np.unique(labels.names, return_counts=True)
    print(json.dumps({"method": method, "atoms": len(frame), "seconds": seconds, "peak_MiB": peak,
                      "frame_MiB": before, "labels": {str(k): int(v) for k, v in zip(names, counts)},
                      "tiles_of": [k for k in getattr(classifier, "built", {}) if k]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--methods", default="ptm,default")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--noise", type=float, default=0.05, help="Gaussian noise, first-shell distances")
    parser.add_argument("--memory", help="the memory NAME/auto may use, e.g. 4G (default: what is available)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        os.environ["STRUCTID_MEMORY"] = args.memory  # the children inherit it
    if args.child:
        _child(args.child[0], int(args.child[1]), args.threads, args.noise)
        return

    from structid import runtime

    runtime.configure(args.threads, "cpu")
    cells = max(2, round((args.atoms / 4) ** (1 / 3)))
    print(f"CPU: {runtime.cpu_model()}; {runtime.threads()} thread(s); "
          f"denormals flushed: {'yes' if runtime.denormals_flushed() else 'no'}; noise {args.noise} d; "
          f"memory for auto: {args.memory or 'what is available'}\n")
    print("| method | atoms | seconds | x PTM's time | peak RSS (MiB) | after building the frame (MiB) | labels |")
    print("|---|---:|---:|---:|---:|---:|---|")
    ptm = None
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        command = [sys.executable, __file__, "--child", method, str(cells), "--noise", str(args.noise)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{method}: {done.stderr.strip().splitlines()[-1]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        ptm = row["seconds"] if method == "ptm" else ptm
        ratio = f"{row['seconds'] / ptm:.1f}" if ptm else ""
        top = ", ".join(f"{k} {v / row['atoms']:.1%}" for k, v in sorted(row["labels"].items(), key=lambda kv: -kv[1])[:3])
        if row["tiles_of"]:
            method = f"{method} (tiles of {row['tiles_of'][0]:,})"
        print(f"| {method} | {row['atoms']:,} | {row['seconds']:.1f} | {ratio} | {row['peak_MiB']:,.0f} | "
              f"{row['frame_MiB']:,.0f} | {top} |", flush=True)


if __name__ == "__main__":
    main()
