"""Training on a user's own trajectory, checked on a second trajectory (another seed, about twice
the atoms) that no model saw.

Needs the MD runs (about 40 min on 2 cores, all in ~/.cache/structid):

    structid md run ramp -s zr --temps 0.1,1.4 && structid md run ramp -s zr --temps 0.1,1.4 --seed 1 --size 4000
    structid md run cycle -s ni,cuzr && structid md run cycle -s ni,cuzr --seed 1 --size 4000

Each case trains NM-CNN with ``structid train nmcnn`` exactly as a user would (the run's dump
and its LAMMPS log; labels only from ``--auto-label ptm`` and ``--window``), then labels every
frame of the seed-1 run. Truth away from the transitions: frames within 10 % of the test run's
own melting point or glass transition (read off its potential energy) are not judged; the others
are hcp / liquid on either side of the melting point (ramp), or the recipe's labels (cycles:
crystal up to 0.8 Tm on heating, liquid from 1.45 Tm on heating and down to Tm on cooling, glass
from 0.5 Tm down; frames between those are not judged either). Prints per-class accuracy and the
transition temperatures of the model, PTM and the energy.

    python benchmarks/own_trajectory.py [--threads 2] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from structid.io.thermo import read_lammps_log
from structid.md.store import data_dir
from structid.models.compose import NeighborAveraged
from structid.models.nmcnn import NMCNN
from structid.training.autolabel import PTMLabels, label_trajectories
from structid.training.report import glass_from_energy, melting_from_energy, trajectory_fractions, transitions

CASES = {
    # name: (recipe/system, training options as a user writes them after looking at the training
    # run's potential energy: Zr melts at 1877 K; Ni melts at 2191 K on heating and its glass
    # transition is at 825 K; Cu-Zr's at 906 K)
    "zr": ("ramp/zr/ramp-0.10-1.40", ["--auto-label", "ptm", "--window", "T>2400:liquid"]),
    "ni": ("cycle/ni/cycle", ["--window", "frames 0-70 & T<1950:fcc", "--window", "frames 58- & T>950:liquid",
                              "--window", "frames 100- & T<740:amorphous"]),
    "cuzr": ("cycle/cuzr/cycle", ["--channels", "Cu=1,Zr=-1", "--window", "T>1100:liquid",
                                  "--window", "frames 40- & T<815:amorphous"]),
}


def train(name: str, base: Path, options: list[str], out: Path, threads: int, epochs: int, reuse: bool = False) -> Path:
    model = out / f"{name}.pt"
    if reuse and model.exists():
        return model
    command = [sys.executable, "-m", "structid.cli", "train", "nmcnn", f"{base}.lammpstrj.gz", "--log", f"{base}.log",
               *options, "--noise", "0.05", "--per-class", "6000", "--epochs", str(epochs), "--architecture", "pool-first-s2",
               "--report", str(out / f"{name}-train"), "-o", str(model), "--force", "--threads", str(threads)]
    print("$ structid " + " ".join(command[3:]), flush=True)
    subprocess.run(command, check=True)
    return model


def truth_of(base: Path, temperature: np.ndarray, energy: np.ndarray) -> list[str | None]:
    """Per-frame truth away from the transitions: frames within 10 % of the test run's own
    melting point (heating) or glass transition (cooling), read off its energy, are not judged."""
    meta = json.loads(Path(f"{base}.json").read_text())
    top = int(np.argmax(temperature))
    heats = top >= 3 and temperature[top] - temperature[0] > 0.2 * temperature[top]
    tm = melting_from_energy(temperature[:top + 1], energy[:top + 1]) if heats else None
    tg = glass_from_energy(temperature[top:], energy[top:]) if meta["recipe"] == "cycle" else None
    truth = []
    for k, t in enumerate(temperature):
        near = (tm is not None and k <= top and abs(t - tm) < 0.1 * tm) or \
               (tg is not None and k >= top and abs(t - tg) < 0.1 * tg)
        if meta["recipe"] == "ramp":
            label = "hcp" if t < tm else "liquid"
        else:
            label = meta["frames"][k]["label"]
        truth.append(None if near else label)
    return truth


def check(name: str, model_path: Path, base: Path, average: int = 0) -> dict:
    model = NMCNN.load(model_path)
    if average:
        model = NeighborAveraged(model, average)
    labels = label_trajectories([(f"{base}.lammpstrj.gz", None)], ptm=PTMLabels(), logs=[read_lammps_log(f"{base}.log")])
    fractions = trajectory_fractions(model, labels)
    t = np.array([r.quantities["Temp"] for r in labels.frames])
    e = np.array([r.quantities["PotEng"] for r in labels.frames])
    truth = truth_of(base, t, e)
    right: dict[str, list[float]] = {}
    for k, label in enumerate(truth):
        if label is not None:
            share = fractions.model[k, fractions.names.index(label)] if label in fractions.names else 0.0
            right.setdefault(label, []).append(share)
    found = transitions(fractions)[0]
    top = int(np.argmax(t))
    crystal = [n for n in fractions.names if n not in ("liquid", "amorphous", "other")]
    melt = found.get("melting_energy_K")
    before = [k for k in range(top + 1) if melt and t[k] < melt - 50]
    result = {"case": name + (f" (averaged over {average})" if average else ""), "test": f"{base}", "atoms": labels.frames[0].n_atoms,
              "per_class": {c: float(np.mean(v)) for c, v in right.items()},
              "frames_judged": {c: len(v) for c, v in right.items()}, **found}
    if crystal and before:
        k = fractions.names.index(crystal[0])
        result["lowest_crystal_share_below_melting"] = float(fractions.model[before, k].min())
        if fractions.ptm is not None and crystal[0] in fractions.ptm_names:
            result["lowest_ptm_share_below_melting"] = float(fractions.ptm[before, fractions.ptm_names.index(crystal[0])].min())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--reuse", action="store_true", help="check models trained by an earlier run")
    args = parser.parse_args()
    root = data_dir() / "md"
    out = data_dir() / "bench" / "own_trajectory"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.cases.split(","):
        key, options = CASES[name]
        model = train(name, root / key, options, out, args.threads, args.epochs, args.reuse)
        for average in (0, 12):
            result = check(name, model, root / f"{key}-seed1", average)
            print(json.dumps(result, indent=1), flush=True)
            results.append(result)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n| case | class | right (frames) | transition | model (K) | energy (K) | PTM (K) |")
    print("|---|---|---:|---|---:|---:|---:|")
    fmt = (lambda v: "—" if v is None else f"{v:.0f}")
    for r in results:
        for c, v in r["per_class"].items():
            print(f"| {r['case']} | {c} | {v:.2%} ({r['frames_judged'][c]}) | | | | |")
        if r.get("melting_energy_K"):
            print(f"| {r['case']} | | | melting | {fmt(r.get('melting_model_K'))} | {fmt(r['melting_energy_K'])} | {fmt(r.get('melting_ptm_K'))} |")
        if r.get("glass_energy_K"):
            print(f"| {r['case']} | | | glass | {fmt(r.get('glass_model_K'))} | {fmt(r['glass_energy_K'])} | — |")


if __name__ == "__main__":
    main()
