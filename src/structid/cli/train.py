"""``structid train``: NM-CNN, LESS and denoiser models from a user's own labelled files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from structid.cli.common import (EveryOpt, FramesOpt, LabelColumnOpt, ReplaceModelOpt, SeedOpt, TypesOpt, channel_weights, check_paths, names, out,
                                 progress, refuse_existing, types_option)
from structid.descriptors.neighbors_map import NeighborsMap
from structid.descriptors.steinhardt import Steinhardt
from structid.errors import InputError
from structid.models.denoiser import Denoiser
from structid.models.less import EXTEND_PER_CLASS, LESS
from structid.models.nmcnn import NMCNN
from structid.io.selection import FrameSelection
from structid.training.datasets import frames_of, labelled_files, sample_maps

app = typer.Typer(no_args_is_help=True, help="Train models on labelled data.")


@app.command("nmcnn")
def train_nmcnn(
    files: Annotated[list[str], typer.Argument(help="LABEL=FILE (every atom of every frame has LABEL), or FILE with --label-column")],
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "nmcnn.pt",
    label_column: LabelColumnOpt = None,
    channels: Annotated[Optional[str], typer.Option("--channels", help="extra map channels: SPECIES=WEIGHT pairs, ';' between channels, e.g. Cu=1,Zr=-1")] = None,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 10,
    missing: Annotated[float, typer.Option(help="augment: copies with 0..MISSING of the atoms removed (steps of 0.1)")] = 0.0,
    noise: Annotated[float, typer.Option(help="augment: Gaussian noise (in nearest-neighbour distances) on half of the atoms")] = 0.0,
    atoms_per_frame: Annotated[int, typer.Option(help="random atoms used per frame and augmentation")] = 500,
    map_size: Annotated[int, typer.Option("--map-size", help="N of the N x N Neighbors Map")] = 32,
    architecture: Annotated[str, typer.Option(help="paper (Appendix A), pool-first, pool-first-s3 or pool-first-s2 (same layers, fewer multiply-adds; docs/nmcnn.md)")] = "pool-first-s3",
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
    types: TypesOpt = None,
    frames: FramesOpt = None,
    every: EveryOpt = None,
) -> None:
    """Train a Neighbors Map + CNN classifier; prints validation accuracy and confusion matrix."""
    selection = FrameSelection.parse(frames, every)
    check_paths(files, {"--output": output})
    refuse_existing(output, force)
    if not 0 <= missing < 1:
        raise InputError(f"--missing must be in [0, 1), got {missing}")
    descriptor = NeighborsMap(size=map_size, scale="auto", channel_weights=channel_weights(channels))
    rng = np.random.default_rng(seed)
    fractions = np.round(np.arange(0, missing + 1e-9, 0.1), 3) if missing else [0.0]
    maps, labels = [], []
    for frame, per_atom in labelled_files(files, label_column, types_option(types), selection):
        for fraction in fractions:
            got_maps, got_labels = sample_maps(descriptor, frame, per_atom, atoms_per_frame, rng, float(fraction),
                                               0.5 if noise else 0.0, noise, refill=False)
            maps.extend(got_maps)
            labels.extend(got_labels)
    if not maps:
        raise InputError("no frames to train on")
    all_maps, all_labels = np.concatenate(maps), np.concatenate(labels)
    out.print(f"{len(all_maps):,} maps: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(all_labels, return_counts=True))))
    model = NMCNN(descriptor, epochs=epochs, seed=seed, architecture=architecture)
    with progress() as bar:
        task = bar.add_task("training", total=epochs, status="")
        model.fit_descriptors(all_maps, all_labels, progress=lambda e: bar.update(
            task, advance=1, status=f"loss {e['loss']:.3f} val {e.get('val_accuracy', float('nan')):.4f}"))
    history = model.history_
    best = history["epochs"][history["best_epoch"] - 1]
    out.print(f"validation accuracy {best.get('val_accuracy', float('nan')):.4f} at epoch "
              f"{history['best_epoch']}, whose weights are kept ({history['val_maps']} maps, "
              f"{history['seconds']:.0f} s)")
    confusion = Table("true \\ predicted", *model.classes_)
    for name, row in zip(model.classes_, history["confusion"] or []):
        confusion.add_row(name, *map(str, row))
    out.print(confusion)
    model.save(output, metadata={"files": files, "epochs": epochs, "missing": missing, "noise": noise, "seed": seed})
    out.print(f"model written to {output}", highlight=False)


@app.command("less")
def train_less(
    files: Annotated[list[str], typer.Argument(help="LABEL=FILE or FILE with --label-column; with --extend: frames of the new class")],
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "less.pt",
    label_column: LabelColumnOpt = None,
    extend: Annotated[Optional[str], typer.Option("--extend", help="trained LESS model to extend with a new class (see --add)")] = None,
    add: Annotated[Optional[str], typer.Option("--add", help="with --extend: name of the new class, e.g. graphite")] = None,
    per_class: Annotated[Optional[int], typer.Option("--per-class", help="atoms per class (training: at most, default 4000; --extend: vectors sampled per old class and new atoms used, default 600)")] = None,
    paper_features: Annotated[bool, typer.Option("--paper-features", help="the paper's 12 features only (no averaged q̄_l)")] = False,
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
    types: TypesOpt = None,
    frames: FramesOpt = None,
    every: EveryOpt = None,
) -> None:
    """Train a LESS stacked classifier on Steinhardt features, or extend one with a new class."""
    selection = FrameSelection.parse(frames, every)
    if extend is not None and Path(extend).resolve() == Path(output).resolve():
        raise InputError(f"{output}: is the model being extended; write the extended model to another file")
    check_paths([*files, extend], {"--output": output})
    refuse_existing(output, force)
    if per_class is None:
        per_class = EXTEND_PER_CLASS if extend is not None else 4000
    if per_class < 10:
        raise InputError(f"--per-class must be at least 10, got {per_class}")
    if (extend is None) != (add is None):
        raise InputError("--extend MODEL and --add LABEL go together")
    if extend is not None and Path(extend).resolve() == Path(output).resolve():
        raise InputError(f"{output}: is the model being extended; write the extended model to another file")
    start = time.perf_counter()
    if extend is not None:
        model = LESS.load(extend)
        new_frames = [frame for spec in files for frame in frames_of(spec, types_option(types), selection)]
        with progress() as bar:
            bar.add_task(f"extending with {add}", total=None, status="")
            model.extend(new_frames, add, n_per_class=per_class, seed=seed)
        out.print(f"added {add!r} to {extend}: {len(model.classes_)} classes, "
                  f"{per_class} samples per class, {time.perf_counter() - start:.1f} s")
    else:
        rng = np.random.default_rng(seed)
        features = Steinhardt(averaged=not paper_features)
        xs, ys = [], []
        for frame, per_atom in labelled_files(files, label_column, types_option(types), selection):
            keep = per_atom != "unknown"
            xs.append(features.compute(frame)[keep])
            ys.append(per_atom[keep])
        if not xs:
            raise InputError("no frames to train on")
        x, y = np.concatenate(xs), np.concatenate(ys)
        pick = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])
        x, y = x[pick], y[pick]
        out.print(f"{len(x):,} atoms: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(y, return_counts=True))))
        model = LESS(features, seed=seed)
        with progress() as bar:
            bar.add_task("training (5-fold level 0, LightGBM level 1)", total=None, status="")
            model.fit_descriptors(x, y)
        out.print(f"trained in {model.history_['seconds']:.0f} s")
    model.save(output)
    out.print(f"model written to {output}", highlight=False)


@app.command("denoiser")
def train_denoiser(
    lattices: Annotated[str, typer.Option("--lattices", help="comma-separated ideal lattices, e.g. fcc,bcc,hcp")] = "fcc,bcc,hcp",
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "denoiser.pt",
    steps: Annotated[int, typer.Option(help="optimisation steps")] = 6000,
    batch: Annotated[int, typer.Option(help="noisy cells per step")] = 4,
    sigma_max: Annotated[float, typer.Option("--sigma-max", help="largest noise, in first-shell distances")] = 0.13,
    checkpoint: Annotated[Optional[str], typer.Option("--checkpoint", help="checkpoint file: saved every 200 steps, resumed if it exists")] = None,
    species: Annotated[Optional[str], typer.Option("--species", help="elements with their own embedding, filling each lattice's sublattices in order, e.g. Na,Cl for rocksalt (default: one embedding for every atom)")] = None,
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
) -> None:
    """Train a score-based denoiser on ideal lattices (Algorithm 2)."""
    check_paths([], {"--output": output, "--checkpoint": checkpoint})
    refuse_existing(output, force)
    if steps < 1 or batch < 1 or not 0 < sigma_max < 0.5:
        raise InputError("--steps and --batch must be >= 1 and --sigma-max in (0, 0.5)")
    model = Denoiser(lattices=names(lattices) or [], species=names(species), steps=steps, batch=batch,
                     sigma_max=sigma_max, seed=seed)
    with progress() as bar:
        task = bar.add_task("training", total=steps, status="")
        model.fit(checkpoint=checkpoint,
                  progress=lambda e: bar.update(task, completed=e["step"], status=f"loss {e['loss']:.5f}"))
    model.save(output)
    out.print(f"{model.n_parameters:,} parameters, final loss {model.history_['final_loss']:.5f}, "
              f"{model.history_['seconds']:.0f} s; model written to {output}", highlight=False)
