"""Throughput of reading, neighbor lists, a-CNA and PTM, as atoms per second.

Every speed is also given as a ratio to OVITO's PTM measured in the same run on the same frame,
because absolute timings drift by 2x between runs on shared machines.

    python benchmarks/io_neighbors.py [--atoms-read 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--atoms-read", type=int, default=1_000_000, help="atoms in the dump to read")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import ase.io

    from structid.bench.speed import benchmark_frame, best_time
    from structid.classical import PTM, AdaptiveCNA, IdentifyDiamond
    from structid.io.readers import open_trajectory
    from structid.io.writers import write_frames
    from structid.lattices import gaussian_noise, lattice
    from structid.neighbors import nearest_neighbors, neighbor_list

    d_nn = 2.556  # Cu
    frame = benchmark_frame(d_nn)
    n = len(frame)
    print(f"frame: {n} atoms fcc Cu, Gaussian noise 5 % of d_nn; {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}")

    rows = []
    ptm_time = best_time(lambda: PTM().classify(frame), args.repeats)
    rows.append(("OVITO PTM (all structures)", n, ptm_time))
    rows.append(("OVITO a-CNA", n, best_time(lambda: AdaptiveCNA().classify(frame), args.repeats)))
    rows.append(("OVITO IdentifyDiamond", n, best_time(lambda: IdentifyDiamond().classify(frame), args.repeats)))
    rows.append(("neighbor list, 5 Å (vesin + sort)", n, best_time(lambda: neighbor_list(frame, 5.0), args.repeats)))
    rows.append(("12 nearest neighbors", n, best_time(lambda: nearest_neighbors(frame, 12), args.repeats)))

    with tempfile.TemporaryDirectory() as tmp:
        reps = int(round((args.atoms_read / 4) ** (1 / 3)))
        big = gaussian_noise(lattice("fcc", d_nn, reps, species="Cu"), 0.05 * d_nn, rng=1)
        path = Path(tmp) / "big.lammpstrj"
        write_frames(path, big)
        size_mb = path.stat().st_size / 1e6
        m = len(big)
        ours = best_time(lambda: list(open_trajectory(path)), args.repeats)
        theirs = best_time(lambda: ase.io.read(path, format="lammps-dump-text"), args.repeats)
        rows.append((f"read LAMMPS dump ({size_mb:.0f} MB), structid", m, ours))
        rows.append((f"read LAMMPS dump ({size_mb:.0f} MB), ase.io.read", m, theirs))

    ptm_rate = n / ptm_time
    print()
    print("| task | atoms | seconds | atoms/s | × PTM |")
    print("|---|---:|---:|---:|---:|")
    for name, atoms, seconds in rows:
        rate = atoms / seconds
        print(f"| {name} | {atoms:,} | {seconds:.3f} | {rate:,.0f} | {rate / ptm_rate:.2f} |")
    print(f"\nstructid dump reader: {theirs / ours:.1f}x faster than ase.io.read on {m:,} atoms")


if __name__ == "__main__":
    main()
