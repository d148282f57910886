"""``structid train``: NM-CNN, LESS and denoiser models from a user's own labelled files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from structid import runtime
from structid.cli.common import (EveryOpt, FramesOpt, LabelColumnOpt, ReplaceModelOpt, SeedOpt, ThreadsOpt, TypesOpt, channel_weights, check_paths, names, out,
                                 progress, refuse_existing, types_option)
from structid.descriptors.neighbors_map import NeighborsMap
from structid.descriptors.steinhardt import Steinhardt
from structid.errors import InputError
from structid.models.denoiser import Denoiser
from structid.models.less import EXTEND_PER_CLASS, LESS
from structid.models.nmcnn import NMCNN
from structid.io.selection import FrameSelection
from structid.io.thermo import read_lammps_log
from structid.labels import code_of
from structid.training.autolabel import (UNKNOWN, PTMLabels, TrajectoryLabels, Window, check_classes, class_quotas,
                                         code_names, label_trajectories, records_with_frames)
from structid.training.datasets import frames_of, sample_maps_by_class
from structid.training.report import heldout_check, markdown, trajectory_fractions, transitions, write_report

app = typer.Typer(no_args_is_help=True, help="Train models on labelled data.")


WindowOpt = Annotated[Optional[list[str]], typer.Option("--window", help="label whole frames: CONDITIONS:LABEL, e.g. 'T<400:fcc', 'frames 60-80:liquid', 'frames 100- & T<600:amorphous' (repeatable; T, pe and other thermo columns come from --log)")]
LogOpt = Annotated[Optional[list[str]], typer.Option("--log", help="LAMMPS log of each trajectory, in order (its thermo output gives T, pe... at the dump's timesteps)")]
AutoLabelOpt = Annotated[Optional[str], typer.Option("--auto-label", help="ptm: label frames PTM matches confidently (see --confident-share, --rmsd-cutoff, --auto-denoise)")]
RmsdOpt = Annotated[float, typer.Option("--rmsd-cutoff", help="--auto-label ptm: atoms fitting worse than this RMSD are left out")]
ShareOpt = Annotated[float, typer.Option("--confident-share", help="--auto-label ptm: use frames where at least this share of atoms match")]
AutoDenoiseOpt = Annotated[int, typer.Option("--auto-denoise", help="--auto-label ptm: denoising steps before PTM (default denoiser)")]
HoldoutOpt = Annotated[Optional[str], typer.Option("--holdout-frames", help="frames (0-based, in every input) kept out of training and checked in the report, e.g. 90-99")]
MinAtomsOpt = Annotated[int, typer.Option("--min-class-atoms", help="fewest labelled atoms a class needs")]
ReportOpt = Annotated[Optional[str], typer.Option("--report", help="folder for report.md, fractions.csv and fractions.png (the model on every frame, next to PTM)")]


def _inputs(files: list[str], label_column: str | None, windows: list, auto_label: str | None) -> list[tuple[str, str | None]]:
    inputs = []
    for spec in files:
        label, sep, path = spec.partition("=")
        if not sep:
            if label_column is None and not windows and auto_label is None:
                raise InputError(f"{spec}: give LABEL=FILE, --label-column, --window or --auto-label ptm")
            inputs.append((spec, None))
            continue
        code_of(label)
        if label == "unknown":
            raise InputError(f"{spec}: 'unknown' is what a model says when it is not sure, not a "
                             "class to train; give the atoms' structure (e.g. amorphous=FILE)")
        inputs.append((path, label))
    return inputs


def _labels(files, label_column, windows, logs, auto_label, rmsd_cutoff, confident_share, auto_denoise,
            holdout, types, selection, min_class_atoms) -> TrajectoryLabels:
    """Every frame's training labels (windows, LABEL=FILE, label column, confident PTM)."""
    parsed = [Window.parse(w) for w in windows or []]
    inputs = _inputs(files, label_column, parsed, auto_label)
    if auto_label not in (None, "ptm"):
        raise InputError(f"--auto-label: {auto_label!r} is not a labeller; use ptm")
    if logs and len(logs) != len(inputs):
        raise InputError(f"--log: {len(logs)} log(s) for {len(inputs)} trajector{'y' if len(inputs) == 1 else 'ies'}; "
                         "give one --log per input, in order")
    thermo = [read_lammps_log(p) for p in logs] if logs else None
    ptm = PTMLabels(rmsd_cutoff, confident_share, auto_denoise) if auto_label else None
    with progress() as bar:
        task = bar.add_task("labelling frames", total=None, status="")
        labels = label_trajectories(inputs, windows=parsed, label_column=label_column, ptm=ptm, logs=thermo,
                                    types=types, selection=selection,
                                    holdout=FrameSelection.parse(holdout) if holdout else None,
                                    on_frame=lambda r: bar.update(task, advance=1, status=r.source or "unlabelled"))
    counts = labels.class_counts()
    out.print(", ".join(f"{source}: {n} frame(s)" for source, n in labels.by_source().items()), highlight=False)
    for note in labels.notes:
        out.print(note, highlight=False)
    check_classes(counts, min_class_atoms)
    out.print("labelled atoms in training frames: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()), highlight=False)
    return labels


def _report(model, labels: TrajectoryLabels, types, report: str | None, header: str) -> None:
    """The held-out check (printed) and, with ``report``, the folder of files."""
    held = heldout_check(model, labels, types)
    if held is not None:
        table = Table("held out: true \\ predicted", *held.classes, "right")
        right = held.per_class()
        for k, name in enumerate(held.classes):
            if held.confusion[k].sum():
                table.add_row(name, *map(str, held.confusion[k]), f"{right[name]:.2%}")
        out.print(table)
        out.print(f"held-out accuracy {held.accuracy:.4f} on {held.confusion.sum():,} labelled atoms", highlight=False)
    if report is None:
        return
    with progress() as bar:
        bar.add_task("labelling every frame for the report", total=None, status="")
        fractions = trajectory_fractions(model, labels, types)
    found = transitions(fractions)
    text = markdown(labels, labels.class_counts(), held, found, header)
    for path in write_report(report, text, fractions, header):
        out.print(f"report: {path}", highlight=False)
    for entry in found:
        out.print(", ".join(f"{k} {v:.0f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()), highlight=False)


@app.command("nmcnn")
def train_nmcnn(
    files: Annotated[list[str], typer.Argument(help="trajectories: FILE (labelled by --window, --auto-label or --label-column) or LABEL=FILE (every atom is LABEL)")],
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "nmcnn.pt",
    label_column: LabelColumnOpt = None,
    window: WindowOpt = None,
    log: LogOpt = None,
    auto_label: AutoLabelOpt = None,
    rmsd_cutoff: RmsdOpt = 0.1,
    confident_share: ShareOpt = 0.9,
    auto_denoise: AutoDenoiseOpt = 0,
    holdout_frames: HoldoutOpt = None,
    channels: Annotated[Optional[str], typer.Option("--channels", help="extra map channels: SPECIES=WEIGHT pairs, ';' between channels, e.g. Cu=1,Zr=-1")] = None,
    epochs: Annotated[int, typer.Option(help="training epochs")] = 10,
    missing: Annotated[float, typer.Option(help="augment: copies with 0..MISSING of the atoms removed (steps of 0.1)")] = 0.0,
    noise: Annotated[float, typer.Option(help="augment: Gaussian noise (in nearest-neighbour distances) on --noise-fraction of the atoms")] = 0.0,
    noise_fraction: Annotated[float, typer.Option("--noise-fraction", help="share of the atoms --noise moves (the paper: a third)")] = 1 / 3,
    per_class: Annotated[int, typer.Option("--per-class", help="maps per class (and per --missing level), drawn over the class's frames")] = 3000,
    min_class_atoms: MinAtomsOpt = 50,
    map_size: Annotated[int, typer.Option("--map-size", help="N of the N x N Neighbors Map")] = 32,
    architecture: Annotated[str, typer.Option(help="paper (Appendix A), pool-first, pool-first-s3 or pool-first-s2 (same layers, fewer multiply-adds; docs/nmcnn.md)")] = "pool-first-s3",
    report: ReportOpt = None,
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
    types: TypesOpt = None,
    frames: FramesOpt = None,
    every: EveryOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Train a Neighbors Map + CNN classifier on labelled files or on your own trajectory
    (labels from windows and confident PTM); prints validation accuracy and confusion matrix."""
    runtime.configure(threads)
    selection = FrameSelection.parse(frames, every)
    check_paths([*files, *(log or [])], {"--output": output, "--report": report})
    refuse_existing(output, force)
    if not 0 <= missing < 1:
        raise InputError(f"--missing must be in [0, 1), got {missing}")
    if not 0 < noise_fraction <= 1 or noise < 0:
        raise InputError(f"--noise must be >= 0 and --noise-fraction in (0, 1], got {noise} and {noise_fraction}")
    if per_class < 1:
        raise InputError(f"--per-class must be at least 1, got {per_class}")
    if epochs < 1:  # before the labelling pass, which can take minutes
        raise InputError(f"epochs must be at least 1, got {epochs}")
    table = types_option(types)
    labels = _labels(files, label_column, window, log, auto_label, rmsd_cutoff, confident_share, auto_denoise,
                     holdout_frames, table, selection, min_class_atoms)
    descriptor = NeighborsMap(size=map_size, scale="auto", channel_weights=channel_weights(channels))
    rng = np.random.default_rng(seed)
    fractions = np.round(np.arange(0, missing + 1e-9, 0.1), 3) if missing else [0.0]
    records = labels.training()
    quotas = [class_quotas(records, per_class, rng) for _ in fractions]
    maps, names_ = [], []
    with progress() as bar:
        task = bar.add_task("Neighbors Maps", total=len(records), status="")
        position = {id(r): k for k, r in enumerate(records)}
        for record, frame in records_with_frames(records, table):
            for level, fraction in enumerate(fractions):
                got_maps, got_names = sample_maps_by_class(descriptor, frame, record.codes, quotas[level][position[id(record)]],
                                                           rng, float(fraction), noise_fraction if noise else 0.0, noise)
                maps.append(got_maps)
                names_.append(got_names)
            bar.update(task, advance=1)
    all_maps, all_labels = np.concatenate(maps), np.concatenate(names_)
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
    model.save(output, metadata={"files": files, "windows": window or [], "auto_label": auto_label,
                                 "holdout_frames": holdout_frames, "epochs": epochs, "missing": missing,
                                 "noise": noise, "noise_fraction": noise_fraction, "per_class": per_class,
                                 "seed": seed, "label_sources": labels.by_source()})
    out.print(f"model written to {output}", highlight=False)
    _report(model, labels, table, report, f"nmcnn trained on {', '.join(files)}")


@app.command("less")
def train_less(
    files: Annotated[list[str], typer.Argument(help="FILE (labelled by --window, --auto-label or --label-column) or LABEL=FILE; with --extend: frames of the new class")],
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "less.pt",
    label_column: LabelColumnOpt = None,
    window: WindowOpt = None,
    log: LogOpt = None,
    auto_label: AutoLabelOpt = None,
    rmsd_cutoff: RmsdOpt = 0.1,
    confident_share: ShareOpt = 0.9,
    auto_denoise: AutoDenoiseOpt = 0,
    holdout_frames: HoldoutOpt = None,
    extend: Annotated[Optional[str], typer.Option("--extend", help="trained LESS model to extend with a new class (see --add)")] = None,
    add: Annotated[Optional[str], typer.Option("--add", help="with --extend: name of the new class, e.g. graphite")] = None,
    per_class: Annotated[Optional[int], typer.Option("--per-class", help="atoms per class (training: at most, default 4000; --extend: vectors sampled per old class and new atoms used, default 600)")] = None,
    min_class_atoms: MinAtomsOpt = 50,
    paper_features: Annotated[bool, typer.Option("--paper-features", help="the paper's 12 features only (no averaged q̄_l)")] = False,
    report: ReportOpt = None,
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
    types: TypesOpt = None,
    frames: FramesOpt = None,
    every: EveryOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Train a LESS stacked classifier on Steinhardt features (labelled files or your own
    trajectory), or extend one with a new class."""
    runtime.configure(threads)
    selection = FrameSelection.parse(frames, every)
    if extend is not None and Path(extend).resolve() == Path(output).resolve():
        raise InputError(f"{output}: is the model being extended; write the extended model to another file")
    check_paths([*files, extend, *(log or [])], {"--output": output, "--report": report})
    refuse_existing(output, force)
    if per_class is None:
        per_class = EXTEND_PER_CLASS if extend is not None else 4000
    if per_class < 10:
        raise InputError(f"--per-class must be at least 10, got {per_class}")
    if (extend is None) != (add is None):
        raise InputError("--extend MODEL and --add LABEL go together")
    table = types_option(types)
    start = time.perf_counter()
    if extend is not None:
        model = LESS.load(extend)
        new_frames = [frame for spec in files for frame in frames_of(spec, table, selection)]
        with progress() as bar:
            bar.add_task(f"extending with {add}", total=None, status="")
            model.extend(new_frames, add, n_per_class=per_class, seed=seed)
        out.print(f"added {add!r} to {extend}: {len(model.classes_)} classes, "
                  f"{per_class} samples per class, {time.perf_counter() - start:.1f} s")
        model.save(output)
        out.print(f"model written to {output}", highlight=False)
        return
    labels = _labels(files, label_column, window, log, auto_label, rmsd_cutoff, confident_share, auto_denoise,
                     holdout_frames, table, selection, min_class_atoms)
    rng = np.random.default_rng(seed)
    features = Steinhardt(averaged=not paper_features)
    records = labels.training()
    # at most per_class atoms of each class, uniformly over all its labelled atoms
    picks = {}
    for code in sorted({int(c) for r in records for c in np.unique(r.codes) if c != UNKNOWN}):
        have = np.array([np.count_nonzero(r.codes == code) for r in records])
        picks[code] = rng.multivariate_hypergeometric(have, min(per_class, int(have.sum())))
    xs, ys = [], []
    position = {id(r): k for k, r in enumerate(records)}
    for record, frame in records_with_frames(records, table):
        k = position[id(record)]
        atoms = np.concatenate([rng.choice(np.flatnonzero(record.codes == code), size=n[k], replace=False)
                                for code, n in picks.items() if n[k]] or [np.array([], dtype=int)])
        if len(atoms):
            xs.append(features.compute(frame)[atoms])
            ys.append(code_names(record.codes[atoms]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    out.print(f"{len(x):,} atoms: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(y, return_counts=True))))
    model = LESS(features, seed=seed)
    with progress() as bar:
        bar.add_task("training (5-fold level 0, LightGBM level 1)", total=None, status="")
        model.fit_descriptors(x, y)
    out.print(f"trained in {model.history_['seconds']:.0f} s")
    model.save(output)
    out.print(f"model written to {output}", highlight=False)
    _report(model, labels, table, report, f"less trained on {', '.join(files)}")


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
