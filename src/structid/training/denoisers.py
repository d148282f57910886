"""Training and the model cards of the shipped denoisers.

    python -m structid.training.build denoiser-metals|denoiser-dc3 [--steps N] [--seed 0]

Training needs no MD data (ideal lattices only); checkpoints go to
``~/.cache/structid/checkpoints`` so an interrupted build resumes.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from structid import runtime
from structid.classical import PTM
from structid.lattices import gaussian_noise, lattice
from structid.md.store import data_dir
from structid.models.denoiser import Denoiser
from structid.pretrained import FOLDER
from structid.training.cards import known_limits

#: shipped denoisers and the lattices they learn
LATTICE_SETS = {"denoiser-metals": ("fcc", "bcc", "hcp"),
                "denoiser-dc3": ("fcc", "bcc", "hcp", "cd", "hd", "sc"),
                "denoiser-all": ("fcc", "bcc", "hcp", "cd", "hd", "sc")}
#: further training settings of a shipped denoiser
OPTIONS = {"denoiser-all": {"open_cells": True, "vacancy_max": 0.04}}
CHECK_SIGMA = 0.08


def synthetic_check(model, lattices, seed: int = 0, sigma: float = CHECK_SIGMA) -> dict:
    """Per lattice: RMSD to the ideal lattice (first-shell distances, after removing the mean
    shift) and PTM accuracy before and after 8 iterations, on noise ``sigma``."""
    rng = np.random.default_rng(seed)
    ptm, out = PTM(), {}
    for name in lattices:
        ideal = lattice(name, 2.5, {"hd": (5, 5, 3), "cd": (4, 4, 4)}.get(name, (6, 6, 6)))
        noisy = gaussian_noise(ideal, sigma * 2.5, rng)
        clean = model.denoise(noisy, 8).frame
        shift = clean.positions - ideal.positions
        shift -= np.round(shift @ np.linalg.inv(ideal.cell)) @ ideal.cell  # unwrap periodic images
        shift = shift - shift.mean(axis=0)
        truth = "sc" if name == "sc" else name
        out[name] = {"rmsd": float(np.sqrt((shift ** 2).sum(axis=1).mean()) / 2.5),
                     "ptm_before": float(np.mean(ptm.classify(noisy).names == truth)),
                     "ptm_after": float(np.mean(ptm.classify(clean).names == truth))}
    return out


def build(name: str, steps: int = 6000, seed: int = 0, root: Path | None = None) -> Path:
    import torch

    # batches of ~1,000 atoms: one thread trains faster than two, for torch and for the
    # neighbour searches (numba), which otherwise spin on a busy machine (10x slower)
    runtime.configure(threads=1)
    runtime.torch_ready()
    lattices = LATTICE_SETS[name]
    folder = data_dir(root) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    options = OPTIONS.get(name, {})
    model = Denoiser(lattices=lattices, steps=steps, seed=seed, **options)
    model.fit(checkpoint=folder / f"{name}-seed{seed}.ckpt",
              progress=lambda e: print(e, flush=True) if e["step"] % 250 == 0 else None)
    check = synthetic_check(model, lattices, seed)
    meta = {"name": name, "lattices": list(lattices), "seed": seed, "steps": steps, "options": options,
            "machine": platform.platform(), "synthetic": check, "parameters": model.n_parameters}
    out = model.save(FOLDER / f"{name}.pt", metadata=meta)
    write_card(model, meta, FOLDER / f"{name}.md")
    return out


def write_card(model, meta: dict, path: Path) -> None:
    h, p = model.history_, model.get_params()
    lines = [
        f"# Model card: {meta['name']}",
        "",
        f"Score-based denoiser (PaiNN-like equivariant network, {meta['parameters']:,} parameters, "
        "32 scalar + 32 vector channels, 3 layers, cutoff 1.3 first-shell distances), trained on "
        f"ideal {', '.join(meta['lattices'])} lattices only (Algorithm 2).",
        "",
        "## Data and command",
        "Ideal periodic cells of about 150 and 300 atoms per lattice, lengths in units of the "
        "first-shell distance estimated from the noisy cell; Gaussian noise sigma ~ U(0, "
        f"{p['sigma_max']}) first-shell distances, {p['batch']} cells per step."
        + (" Also open cells: slabs with free surfaces and small clusters of every lattice, so that "
           "an ideal surface is a fixed point." if p.get("open_cells") else "")
        + (f" Up to {100 * p['vacancy_max']:g} % of the atoms of a cell removed (vacancies)."
           if p.get("vacancy_max") else ""),
        "```",
        f"python -m structid.training.build {meta['name']} --steps {meta['steps']} --seed {meta['seed']}",
        "```",
        "",
        "## Training",
        f"AdamW (lr {p['learning_rate']}, cosine decay), {p['steps']} steps, seed {meta['seed']}; "
        f"{h['seconds'] / 60:.1f} min on {meta['machine']} ({h['threads']} torch threads, 2 cores); "
        f"final loss {h['final_loss']:.5f} (predicting zero: {p['sigma_max'] ** 2:.5f}).",
        "",
        f"## Metrics (synthetic noise sigma = {CHECK_SIGMA} first-shell distances, 8 iterations)",
        "",
        "| lattice | RMSD to ideal (d) | PTM before (%) | PTM after (%) |",
        "|---|---:|---:|---:|",
    ]
    for name, r in meta["synthetic"].items():
        lines.append(f"| {name} | {r['rmsd']:.4f} | {100 * r['ptm_before']:.1f} | {100 * r['ptm_after']:.1f} |")
    lines += known_limits(meta["name"])
    lines += ["", "MD benchmarks (DC3 at Tm, Cu at 60 GPa, realistic samples, speed): docs/benchmarks.md."]
    path.write_text("\n".join(lines) + "\n")
