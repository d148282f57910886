"""``structid classify`` and ``structid denoise``: label or denoise every frame of a file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from structid.analysis import StructureFractions
from structid import runtime
from structid.cli.common import (DeviceOpt, EveryOpt, FormatOpt, FramesOpt, MaxAtomsOpt, ThreadsOpt, TypesOpt, check_paths, default_output, out, progress,
                                 types_option)
from structid.errors import InputError
from structid.io.readers import open_trajectory
from structid.io.writers import AtomicFile, TrajectoryWriter
from structid.labels import CODE
from structid.io.selection import FrameSelection
from structid.io.thermo import read_lammps_log
from structid.parallel import DaskLabeller
from structid.registry import atoms_in_memory, build_pipeline, get_denoiser, resolve_max_atoms
from structid.training.autolabel import FrameFacts


def classify(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    method: Annotated[str, typer.Option("--method", "-m", help="default (recommended), acna, ptm, diamond, nmcnn, less (see `structid methods`)")] = "default",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="labelled output (.extxyz or .lammpstrj[.gz]); default beside the input")] = None,
    summary_json: Annotated[Optional[str], typer.Option("--summary-json", help="write counts and fractions (per frame and total) as JSON")] = None,
    fractions_csv: Annotated[Optional[str], typer.Option("--fractions-csv", help="write the fraction of each structure per frame as CSV")] = None,
    plot: Annotated[Optional[str], typer.Option("--plot", help="write a PNG of the structure fractions per frame")] = None,
    rmsd_cutoff: Annotated[Optional[float], typer.Option("--rmsd-cutoff", help="PTM only: RMSD cutoff (0 = none; default 0.1)")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="trained model file for ML methods (default: the shipped one)")] = None,
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", help="ML methods: label atoms below this top probability `unknown`")] = None,
    neighbor_average: Annotated[int, typer.Option("--neighbor-average", help="ML methods: average each atom's probabilities with those of its N nearest neighbours (0: off; 12 is the measured setting)")] = 0,
    check_order: Annotated[bool, typer.Option("--check-order", help="ML methods: label `unknown` a liquid/amorphous atom in an ordered region (a crystal the model does not know) and a crystal atom in a disordered one; writes the `order` column (the default method does this)")] = False,
    denoise: Annotated[int, typer.Option("--denoise", help="denoise with this many iterations first (0: off)")] = 0,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="denoiser file or shipped name, e.g. denoiser-dc3 (default: denoiser-all)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace existing output files")] = False,
    format: FormatOpt = None,
    types: TypesOpt = None,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "cpu",
    frames: FramesOpt = None,
    every: EveryOpt = None,
    max_atoms: MaxAtomsOpt = "auto",
    workers: Annotated[Optional[int], typer.Option("--workers", help="label frames on a local Dask cluster of N processes (resumes an interrupted run)")] = None,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="label frames on a running Dask cluster, e.g. tcp://head:8786")] = None,
    log: Annotated[Optional[str], typer.Option("--log", help="the run's LAMMPS log: each frame's temperature (thermo Temp at its timestep) goes into the fractions CSV/JSON and the plot's x axis")] = None,
) -> None:
    """Label every atom of every frame; write the labels (on the input positions) and print a summary."""
    runtime.configure(threads, device)
    selection = FrameSelection.parse(frames, every)
    thermo = read_lammps_log(log) if log else None
    pipeline = {"method": method, "model": model, "min_confidence": min_confidence,
                "neighbor_average": neighbor_average, "denoise": denoise, "denoiser": denoiser,
                "rmsd_cutoff": rmsd_cutoff, "check_order": check_order, "max_atoms": max_atoms}
    classifier = build_pipeline(**pipeline)
    traj = open_trajectory(file, format=format, types=types_option(types))
    target = Path(output) if output else default_output(traj.path, traj.format)
    check_paths([traj.path, log], {"--output": str(target), "--summary-json": summary_json,
                              "--fractions-csv": fractions_csv, "--plot": plot})
    # every output is opened before the (possibly long) run so that a bad path fails at once
    extras = {p: AtomicFile(p, force=force, protect=(traj.path,)) for p in (summary_json, fractions_csv, plot) if p}
    analysis = StructureFractions(classifier).prepare()
    labeller = None
    if workers is not None or scheduler is not None:
        labeller = DaskLabeller(traj.path, pipeline, target, workers=workers, scheduler=scheduler, format=format,
                                types=types_option(types), selection=selection)
    start = time.perf_counter()
    try:
        with TrajectoryWriter(target, force=force, protect=(traj.path,)) as writer, progress() as bar:
            task = bar.add_task("classifying", total=traj.total_bytes, status="")
            computed = labeller.labels() if labeller is not None else None
            temperatures = []
            for k, frame in selection.apply(traj, file):
                if thermo is not None:
                    temperatures.append(_temperature(thermo, frame, k, file))
                labels = analysis.process(frame) if computed is None else analysis.record(frame, next(computed))
                writer.write(frame, labels)
                bar.update(task, completed=traj.bytes_read if traj.total_bytes else k + 1, status=f"frame {k + 1}")
            try:
                analysis.conclude()
            except InputError:
                raise InputError(f"{file}: contains no frames") from None
            if thermo is not None:
                analysis.temperatures_ = np.array(temperatures)
        _print_summary(file, analysis, target, time.perf_counter() - start)
        if summary_json:
            extras[summary_json].write(analysis.to_json(input=str(file), output=str(target), method=analysis.method).encode())
        if fractions_csv:
            extras[fractions_csv].write(analysis.to_csv().encode())
        if plot:
            extras[plot].write(analysis.plot())
        for f in extras.values():
            f.commit()
        if labeller is not None:
            labeller.discard()
    except BaseException:
        for f in extras.values():
            f.abort()
        raise


def _temperature(thermo, frame, index: int, file: str) -> float:
    """The log's temperature (K) at the frame's timestep; one-line errors name --log."""
    return FrameFacts(file, index, frame.info.get("timestep"), None, thermo).value("T", "--log")


def _print_summary(file: str, analysis: StructureFractions, target: Path, elapsed: float) -> None:
    frames, n_atoms = analysis.frames_, analysis.n_atoms
    out.print(f"[bold]{analysis.method}[/bold] on {file}: {len(frames)} frame(s), {n_atoms:,} atom labels",
              highlight=False)
    if len(frames) > 1:
        per_frame = Table("frame", "timestep", "atoms", *analysis.names_)
        shown = list(range(len(frames))) if len(frames) <= 12 else [*range(6), None, *range(len(frames) - 5, len(frames))]
        for k in shown:
            if k is None:
                per_frame.add_row("…", *[""] * (2 + len(analysis.names_)))
                continue
            f = frames[k]
            per_frame.add_row(str(f.index), str(f.timestep), str(f.atoms), *(f"{v:.3f}" for v in analysis.fractions_[k]))
        out.print(per_frame)
    table = Table("structure", "id", "atoms", "fraction")
    for name, count in analysis.total_counts_.items():
        table.add_row(name, str(CODE[name]), str(count), f"{count / n_atoms:.4f}")
    out.print(table)
    out.print(f"labels written to {target} ({n_atoms / max(elapsed, 1e-9):,.0f} atoms/s including "
              "reading and writing)", highlight=False)


def denoise(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    output: Annotated[str, typer.Option("--output", "-o", help="denoised output (.extxyz or .lammpstrj[.gz])")],
    iterations: Annotated[int, typer.Option(help="at most this many steps r <- r - D(r)")] = 8,
    tolerance: Annotated[float, typer.Option(help="stop when the largest step is below this (first-shell distances)")] = 1e-3,
    scale: Annotated[Optional[float], typer.Option("--scale", help="first-shell distance in Å (default: estimated per frame)")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="denoiser file or shipped name, e.g. denoiser-dc3 (default: denoiser-all)")] = None,
    save_trajectory: Annotated[bool, typer.Option("--save-trajectory", help="write every iteration of the first frame as a trajectory")] = False,
    force: Annotated[bool, typer.Option("--force", help="replace an existing output file")] = False,
    format: FormatOpt = None,
    types: TypesOpt = None,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "cpu",
    frames: FramesOpt = None,
    every: EveryOpt = None,
    max_atoms: MaxAtomsOpt = "auto",
) -> None:
    """Remove thermal noise: move atoms towards the ideal lattice they vibrate around."""
    runtime.configure(threads, device)
    selection = FrameSelection.parse(frames, every)
    if iterations < 0:
        raise InputError(f"--iterations must be >= 0, got {iterations}")
    if scale is not None and not scale > 0:
        raise InputError(f"--scale must be a positive distance in Å, got {scale}")
    budget = resolve_max_atoms(max_atoms)
    net = get_denoiser(model)
    traj = open_trajectory(file, format=format, types=types_option(types))
    check_paths([traj.path, model], {"--output": output})
    start = time.perf_counter()
    n = 0
    with TrajectoryWriter(output, force=force, protect=(traj.path,)) as writer, progress() as bar:
        task = bar.add_task("denoising", total=traj.total_bytes, status="")
        for _, frame in selection.apply(traj, file):
            result = net.denoise(frame, iterations, tolerance, scale, save_trajectory=save_trajectory and n == 0,
                                 max_atoms=atoms_in_memory(len(frame)) if budget == "auto" else budget)
            for k, snapshot in enumerate(result.trajectory or [result.frame]):
                writer.write(snapshot.replace(info={**frame.info, "iteration": k} if result.trajectory else frame.info))
            n += 1
            last = result.max_step[-1] if result.max_step else 0
            bar.update(task, completed=traj.bytes_read if traj.total_bytes else n,
                       status=f"frame {n}: {result.iterations} iterations, last step {last:.3f} Å")
        if n == 0:
            raise InputError(f"{file}: contains no frames")
    out.print(f"denoised {n} frame(s) of {file} in {time.perf_counter() - start:.1f} s -> {output}", highlight=False)

