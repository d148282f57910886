"""The ``structid`` command line: ``info``, ``classify``, ``methods``, ``example``.

Problems with the input end in one line on stderr and exit code 2; every file is written
atomically, and an input file is never overwritten.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from structid.errors import InputError, StructidError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Atom-by-atom structure identification in molecular-dynamics snapshots.",
)
out = Console()
err = Console(stderr=True)

FormatOpt = Annotated[Optional[str], typer.Option("--format", help="input format (lammps-dump or any ASE format); detected from the name when omitted")]
TypesOpt = Annotated[Optional[str], typer.Option("--types", help="LAMMPS type to element, e.g. 1=Cu,2=Zr")]
# options shared by the `train` commands
LabelColumnOpt = Annotated[Optional[str], typer.Option("--label-column", help="per-atom label column (names, or vocabulary ids such as structure_id)")]
SeedOpt = Annotated[int, typer.Option(help="random seed")]
ReplaceModelOpt = Annotated[bool, typer.Option("--force", help="replace an existing model file")]


def _types(text: str | None) -> dict[int, str] | None:
    from structid.io.readers import parse_types

    return None if text is None else parse_types(text)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )


@app.command()
def info(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    format: FormatOpt = None,
    types: TypesOpt = None,
) -> None:
    """Frames, atoms, species, cell and columns of a structure file."""
    from structid.io.readers import open_trajectory

    traj = open_trajectory(file, format=format, types=_types(types))
    n_frames, atoms, timesteps, first = 0, [], [], None
    species: dict[str, int] = {}
    for frame in traj:
        if first is None:
            first = frame
            names, counts = np.unique(frame.species, return_counts=True)
            species = dict(zip(names.tolist(), counts.tolist()))
        n_frames += 1
        atoms.append(len(frame))
        timesteps.append(frame.info.get("timestep"))
    if first is None:
        raise InputError(f"{file}: contains no frames")
    table = Table(title=str(file), show_header=False)
    table.add_row("format", traj.format)
    table.add_row("frames", str(n_frames))
    table.add_row("atoms", str(atoms[0]) if min(atoms) == max(atoms) else f"{min(atoms)}..{max(atoms)}")
    if timesteps[0] is not None:
        table.add_row("timesteps", f"{timesteps[0]}..{timesteps[-1]}")
    table.add_row("species", ", ".join(f"{k}: {v}" for k, v in species.items()))
    lengths = np.linalg.norm(first.cell, axis=1)
    cos = lambda a, b: first.cell[a] @ first.cell[b] / max(lengths[a] * lengths[b], 1e-300)  # noqa: E731
    angles = np.degrees(np.arccos(np.clip([cos(1, 2), cos(0, 2), cos(0, 1)], -1, 1)))
    table.add_row("cell a b c (Å)", " ".join(f"{v:.4f}" for v in lengths))
    table.add_row("cell α β γ (°)", " ".join(f"{v:.2f}" for v in angles))
    table.add_row("origin (Å)", " ".join(f"{v:.4f}" for v in first.origin))
    table.add_row("periodic", " ".join("yes" if p else "no" for p in first.pbc))
    table.add_row("volume (Å³)", f"{first.volume:.6g}" if first.pbc.all() else "n/a")
    table.add_row("columns", ", ".join(first.properties) or "-")
    out.print(table)


@app.command()
def methods() -> None:
    """List the structure-identification methods."""
    from structid.registry import available

    table = Table("method", "description")
    for name, description in available().items():
        table.add_row(name, description)
    out.print(table)


def default_output(path: Path, fmt: str) -> Path:
    """``dump.lammpstrj`` -> ``dump.structid.lammpstrj``; other inputs -> ``NAME.structid.extxyz``."""
    name = path.name
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    stem, _, ext = name.rpartition(".")
    if fmt == "lammps-dump":
        return path.with_name(f"{stem or ext}.structid.{ext if stem else 'lammpstrj'}")
    return path.with_name(f"{stem or ext}.structid.extxyz")


@app.command()
def classify(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    method: Annotated[str, typer.Option("--method", "-m", help="acna, ptm, diamond, ... (see `structid methods`)")] = "ptm",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="labelled output (.extxyz or .lammpstrj[.gz]); default beside the input")] = None,
    summary_json: Annotated[Optional[str], typer.Option("--summary-json", help="write counts and fractions (per frame and total) as JSON")] = None,
    fractions_csv: Annotated[Optional[str], typer.Option("--fractions-csv", help="write the fraction of each structure per frame as CSV")] = None,
    plot: Annotated[Optional[str], typer.Option("--plot", help="write a PNG of the structure fractions per frame")] = None,
    rmsd_cutoff: Annotated[Optional[float], typer.Option("--rmsd-cutoff", help="PTM only: RMSD cutoff (0 = none; default 0.1)")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="trained model file for ML methods (default: the shipped one)")] = None,
    min_confidence: Annotated[Optional[float], typer.Option("--min-confidence", help="ML methods: label atoms below this top probability `unknown`")] = None,
    neighbor_average: Annotated[int, typer.Option("--neighbor-average", help="ML methods: average each atom's probabilities with those of its N nearest neighbours (0: off; 12 is the measured setting)")] = 0,
    denoise: Annotated[int, typer.Option("--denoise", help="denoise with this many iterations first (0: off)")] = 0,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="denoiser file or shipped name, e.g. denoiser-dc3 (default: denoiser-metals)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace existing output files")] = False,
    format: FormatOpt = None,
    types: TypesOpt = None,
) -> None:
    """Label every atom of every frame; write the labels (on the input positions) and print a summary."""
    from structid.io.readers import open_trajectory
    from structid.io.writers import AtomicFile, TrajectoryWriter
    from structid.registry import get_classifier

    options = {}
    if rmsd_cutoff is not None:
        if method != "ptm":
            raise InputError("--rmsd-cutoff applies to --method ptm only")
        options["rmsd_cutoff"] = rmsd_cutoff
    if model is not None:
        options["model"] = model
    if min_confidence is not None:
        if not 0 <= min_confidence <= 1:
            raise InputError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    if neighbor_average < 0:
        raise InputError(f"--neighbor-average must be >= 0, got {neighbor_average}")
    if min_confidence is not None and not neighbor_average:
        options["min_confidence"] = min_confidence
    classifier = get_classifier(method, **options)
    if neighbor_average:
        from structid.models.neighbor_average import NeighborAveraged

        classifier = NeighborAveraged(classifier, neighbor_average, min_confidence=min_confidence or 0.0)
        method = classifier.name
    if denoise < 0:
        raise InputError(f"--denoise must be >= 0, got {denoise}")
    if denoise:
        from structid.models.denoiser import Denoised, from_file

        classifier = Denoised(from_file(denoiser), classifier, denoise)
        method = classifier.name
    elif denoiser is not None:
        raise InputError("--denoiser needs --denoise N")
    traj = open_trajectory(file, format=format, types=_types(types))
    target = Path(output) if output else default_output(traj.path, traj.format)
    # Open every output before the (possibly long) run so that a bad path fails at once.
    extra_paths = [p for p in (summary_json, fractions_csv, plot) if p]
    extras = {p: AtomicFile(p, force=force, protect=(traj.path,)) for p in extra_paths}
    frames: list[dict] = []
    total = np.zeros(0, dtype=np.int64)
    start = time.perf_counter()
    try:
        with TrajectoryWriter(target, force=force, protect=(traj.path,)) as writer, _progress() as bar:
            task = bar.add_task("classifying", total=traj.total_bytes, status="")
            for k, frame in enumerate(traj):
                labels = classifier.classify(frame)
                writer.write(frame, labels)
                counts = labels.counts()
                frames.append({"index": k, "timestep": frame.info.get("timestep"),
                               "atoms": len(frame), "counts": counts})
                total = _add_counts(total, labels.codes)
                bar.update(task, completed=traj.bytes_read if traj.total_bytes else k + 1,
                           status=f"frame {k + 1}")
            if not frames:
                raise InputError(f"{file}: contains no frames")
        elapsed = time.perf_counter() - start
        _print_summary(file, method, target, frames, total, elapsed)
        _write_extras(extras, summary_json, fractions_csv, plot, file, method, target, frames, total)
    except BaseException:
        for f in extras.values():
            f.abort()
        raise


def _add_counts(total: np.ndarray, codes: np.ndarray) -> np.ndarray:
    from structid.labels import VOCABULARY

    counts = np.bincount(codes, minlength=len(VOCABULARY))
    return counts if total.size == 0 else total + counts


def _print_summary(file, method, target, frames, total, elapsed) -> None:
    from structid.labels import VOCABULARY

    n_atoms = int(total.sum())
    present = np.flatnonzero(total)
    out.print(f"[bold]{method}[/bold] on {file}: {len(frames)} frame(s), {n_atoms:,} atom labels",
              highlight=False)
    if len(frames) > 1:
        per_frame = Table("frame", "timestep", "atoms", *(VOCABULARY[c] for c in present))
        shown = frames if len(frames) <= 12 else frames[:6] + [None] + frames[-5:]
        for f in shown:
            if f is None:
                per_frame.add_row("…", *[""] * (2 + len(present)))
                continue
            per_frame.add_row(str(f["index"]), str(f["timestep"]), str(f["atoms"]),
                              *(f"{f['counts'].get(VOCABULARY[c], 0) / f['atoms']:.3f}" for c in present))
        out.print(per_frame)
    table = Table("structure", "id", "atoms", "fraction")
    for code in present:
        table.add_row(VOCABULARY[code], str(code), str(int(total[code])), f"{total[code] / n_atoms:.4f}")
    out.print(table)
    out.print(f"labels written to {target} ({n_atoms / max(elapsed, 1e-9):,.0f} atoms/s including "
              "reading and writing)", highlight=False)


def _write_extras(extras, summary_json, fractions_csv, plot, file, method, target, frames, total) -> None:
    from structid.labels import VOCABULARY

    names = [VOCABULARY[c] for c in np.flatnonzero(total)]
    n_atoms = int(total.sum())
    if summary_json:
        summary = {
            "input": str(file), "output": str(target), "method": method,
            "frames": [dict(f, fractions={k: v / f["atoms"] for k, v in f["counts"].items()})
                       for f in frames],
            "total": {"atoms": n_atoms,
                      "counts": {VOCABULARY[c]: int(total[c]) for c in np.flatnonzero(total)},
                      "fractions": {VOCABULARY[c]: total[c] / n_atoms for c in np.flatnonzero(total)}},
        }
        extras[summary_json].write(json.dumps(summary, indent=2).encode())
    if fractions_csv:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["frame", "timestep", "atoms", *names])
        for f in frames:
            writer.writerow([f["index"], f["timestep"], f["atoms"],
                             *(f"{f['counts'].get(n, 0) / f['atoms']:.6f}" for n in names)])
        extras[fractions_csv].write(text.getvalue().encode())
    if plot:
        extras[plot].write(_fraction_plot(frames, names, method))
    for f in extras.values():
        f.commit()


def _fraction_plot(frames, names, method) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_steps = all(f["timestep"] is not None for f in frames)
    x = [f["timestep"] if use_steps else f["index"] for f in frames]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for name in names:
        ax.plot(x, [f["counts"].get(name, 0) / f["atoms"] for f in frames], marker="o", label=name)
    ax.set_xlabel("timestep" if use_steps else "frame")
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(0, 1)
    ax.set_title(f"structure fractions ({method})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@app.command()
def example(
    name: Annotated[str, typer.Argument(help="grains: fcc, hcp and bcc grains heated in four frames")] = "grains",
    output: Annotated[str, typer.Option("--output", "-o", help="where to write it (.lammpstrj or .extxyz)")] = "examples/grains.lammpstrj",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    force: Annotated[bool, typer.Option("--force", help="replace an existing file")] = False,
) -> None:
    """Generate the bundled example: a polycrystal with growing thermal noise."""
    from structid.io.writers import TrajectoryWriter
    from structid.lattices import gaussian_noise
    from structid.polycrystal import polycrystal

    if name != "grains":
        raise InputError(f"unknown example {name!r}; available: grains")
    crystal = polycrystal(("fcc", "hcp", "bcc"), box_length=40.0, grains=3, nn_distance=2.55, seed=seed)
    crystal = crystal.replace(species=np.full(len(crystal), "Cu"))
    rng = np.random.default_rng(seed)
    with TrajectoryWriter(output, force=force) as writer:
        # Gaussian noise per component of 2..8 % of the neighbor distance: from a cold crystal
        # to the Lindemann regime where the classical methods break down.
        for k, fraction in enumerate((0.02, 0.04, 0.06, 0.08)):
            frame = gaussian_noise(crystal, fraction * 2.55, rng)
            writer.write(frame.replace(info={"timestep": 1000 * k}))
    out.print(f"wrote {output}: {len(crystal)} atoms, 4 frames (fcc, hcp, bcc grains; noise 2-8 % of d_nn)")


@app.command("denoise")
def denoise_command(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    output: Annotated[str, typer.Option("--output", "-o", help="denoised output (.extxyz or .lammpstrj[.gz])")],
    iterations: Annotated[int, typer.Option(help="at most this many steps r <- r - D(r)")] = 8,
    tolerance: Annotated[float, typer.Option(help="stop when the largest step is below this (first-shell distances)")] = 1e-3,
    scale: Annotated[Optional[float], typer.Option("--scale", help="first-shell distance in Å (default: estimated per frame)")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="denoiser file or shipped name, e.g. denoiser-dc3 (default: denoiser-metals)")] = None,
    save_trajectory: Annotated[bool, typer.Option("--save-trajectory", help="write every iteration of the first frame as a trajectory")] = False,
    force: Annotated[bool, typer.Option("--force", help="replace an existing output file")] = False,
    format: FormatOpt = None,
    types: TypesOpt = None,
) -> None:
    """Remove thermal noise: move atoms towards the ideal lattice they vibrate around."""
    from structid.io.readers import open_trajectory
    from structid.io.writers import TrajectoryWriter
    from structid.models.denoiser import from_file

    if iterations < 0:
        raise InputError(f"--iterations must be >= 0, got {iterations}")
    if scale is not None and not scale > 0:
        raise InputError(f"--scale must be a positive distance in Å, got {scale}")
    net = from_file(model)
    traj = open_trajectory(file, format=format, types=_types(types))
    start = time.perf_counter()
    n = 0
    with TrajectoryWriter(output, force=force, protect=(traj.path,)) as writer, _progress() as bar:
        task = bar.add_task("denoising", total=traj.total_bytes, status="")
        for frame in traj:
            result = net.denoise(frame, iterations, tolerance, scale, save_trajectory=save_trajectory and n == 0)
            for k, snapshot in enumerate(result.trajectory or [result.frame]):
                writer.write(snapshot.replace(info={**frame.info, "iteration": k} if result.trajectory else frame.info))
            n += 1
            bar.update(task, completed=traj.bytes_read if traj.total_bytes else n,
                       status=f"frame {n}: {result.iterations} iterations, last step {result.max_step[-1] if result.max_step else 0:.3f} Å")
        if n == 0:
            raise InputError(f"{file}: contains no frames")
    out.print(f"denoised {n} frame(s) of {file} in {time.perf_counter() - start:.1f} s -> {output}", highlight=False)


@app.command()
def nmap(
    file: Annotated[str, typer.Argument(help="structure file (first frame unless --frame)")],
    atoms: Annotated[str, typer.Option("--atoms", help="comma-separated atom indices (0-based)")] = "0",
    output: Annotated[str, typer.Option("--output", "-o", help="PNG to write")] = "maps.png",
    frame_index: Annotated[int, typer.Option("--frame", help="frame index")] = 0,
    size: Annotated[int, typer.Option(help="N of the N x N map")] = 32,
    channels: Annotated[Optional[str], typer.Option("--channels", help="extra channels: SPECIES=WEIGHT pairs, ';' between channels")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing PNG")] = False,
    format: FormatOpt = None,
    types: TypesOpt = None,
) -> None:
    """Render the Neighbors Maps of some atoms as a PNG (one panel per atom and channel)."""
    from structid.descriptors.neighbors_map import NeighborsMap
    from structid.io.readers import read_frame
    from structid.io.writers import AtomicFile

    frame = read_frame(file, frame_index, format=format, types=_types(types))
    try:
        chosen = np.array([int(a) for a in atoms.split(",") if a.strip()])
    except ValueError:
        raise InputError(f"--atoms: expected comma-separated integers, got {atoms!r}") from None
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(frame):
        raise InputError(f"--atoms: indices must be between 0 and {len(frame) - 1}")
    target = AtomicFile(output, force=force, protect=(file,))
    try:
        descriptor = NeighborsMap(size=size, channel_weights=_channel_weights(channels))
        maps = descriptor.compute(frame, atoms=chosen)
        captions = [f"atom {a} ({frame.species[a]})" for a in chosen]
        target.write(render_maps(maps, captions))
        target.commit()
    except BaseException:
        target.abort()
        raise
    out.print(f"{len(chosen)} map(s) written to {output}", highlight=False)


def render_maps(maps: np.ndarray, captions: list[str], columns: int | None = None) -> bytes:
    """PNG bytes of a grid of maps (n, C, N, N): one panel per atom and channel, ``columns``
    panels per row (default: one row per atom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, c = maps.shape[:2]
    panels = [(maps[k, ch], captions[k] + ("" if ch == 0 else f", channel {ch}"), ch > 0)
              for k in range(n) for ch in range(c)]
    columns = columns or c
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.7 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image, caption, chemical) in zip(axes.ravel(), panels):
        limit = np.abs(image).max() or 1.0
        ax.imshow(image, cmap="coolwarm" if chemical else "viridis",
                  vmin=-limit if chemical else 0, vmax=limit)
        ax.set_title(caption, fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


md_app = typer.Typer(no_args_is_help=True, help="Molecular dynamics with LAMMPS: labelled snapshots.")
app.add_typer(md_app, name="md")


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{what}: expected comma-separated numbers, got {text!r}") from None


@md_app.command("list")
def md_list() -> None:
    """The recipes and the systems they simulate."""
    from structid.md.recipes import RECIPES
    from structid.md.systems import CU_60GPA, EXTENSION, GLASS, SYSTEMS

    table = Table("recipe", "what")
    for name, description in RECIPES.items():
        table.add_row(name, description)
    out.print(table)
    from structid.md.recipes import Run, initial_frame

    systems = Table("system", "material and potential", "label", "Tm (K)", "P (GPa)", "atoms", "Tm source")
    for s in [*SYSTEMS.values(), *CU_60GPA.values(), *GLASS.values(), *EXTENSION.values()]:
        n = len(initial_frame(Run("", s, "", (), 0, s.repeat)))
        systems.add_row(s.name, s.title, s.label, f"{s.tm:g}", f"{s.pressure / 1e4:g}", str(n), s.tm_source)
    out.print(systems)


@md_app.command("run")
def md_run(
    recipe: Annotated[str, typer.Argument(help="dc3, cu60, ramp, quench, interface or extension (see `structid md list`)")],
    systems: Annotated[Optional[str], typer.Option("--systems", "-s", help="comma-separated systems (default: all of the recipe)")] = None,
    temps: Annotated[Optional[str], typer.Option("--temps", help="Th = T/Tm values, e.g. 0.25,0.5 (ramp: start,stop)")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="about this many atoms per run (default ~2,000)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="few hundred atoms and steps (for tests)")] = False,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="default ~/.cache/structid or $STRUCTID_DATA")] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="OpenMP threads per run (default: all cores)")] = None,
) -> None:
    """Run a recipe; finished runs are skipped, so an interrupted command resumes."""
    from structid.md.recipes import data_dir as resolve, execute_isolated, plan

    names = [n.strip() for n in systems.split(",")] if systems else None
    th = _floats(temps, "--temps")
    runs = plan(recipe, names, th, size, quick, seed)
    root = resolve(data_dir)
    spec = {"recipe": recipe, "systems": names, "temps": th, "n_atoms": size, "quick": quick, "seed": seed}
    from structid.md.engine import LammpsRunError

    start = time.perf_counter()
    failed = []
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, disable=not err.is_terminal) as bar:
        total = bar.add_task(f"{recipe}: {len(runs)} runs", total=sum(r.steps for r in runs))
        for run in runs:
            bar.update(total, description=run.key)
            try:
                execute_isolated(run, root, spec, threads, lambda n: bar.advance(total, n))
            except LammpsRunError as exc:
                # one failed run must not cost the rest of a long batch
                failed.append(str(exc))
                err.print(f"structid: {exc}", markup=False, highlight=False)
                continue
            out.print(f"done {run.key}", highlight=False)
    out.print(f"{len(runs) - len(failed)} of {len(runs)} runs in {root / 'md' / recipe} "
              f"({time.perf_counter() - start:.0f} s)", highlight=False)
    if failed:
        raise LammpsRunError(f"{len(failed)} run(s) failed, first: {failed[0]}")


@md_app.command("melting")
def md_melting(
    system: Annotated[str, typer.Argument(help="a system of `structid md list`")],
    guess: Annotated[Optional[float], typer.Option(help="starting temperature, K (default: the system's Tm)")] = None,
    time_ps: Annotated[float, typer.Option("--time", help="NPH coexistence time, ps")] = 40.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="OpenMP threads")] = None,
) -> None:
    """Measure the melting point of a system's potential by solid-liquid coexistence."""
    from structid.md.recipes import melting_point
    from structid.md.systems import get_system

    chosen = get_system(system)
    start = guess if guess is not None else chosen.tm
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"coexistence {system}", total=int((12 + time_ps) / chosen.timestep))
        result = melting_point(chosen, start, time_ps=time_ps, seed=seed, threads=threads,
                               on_progress=lambda n: bar.advance(task, n))
    out.print(f"{system}: Tm = {result.temperature:.0f} ± {result.spread:.0f} K "
              f"({result.n_atoms} atoms; table value {chosen.tm:g} K; experimental phase check: "
              f"{result.crystal_fraction:.0%} crystalline at the end)", highlight=False)
    if not 0.15 < result.crystal_fraction < 0.85:
        out.print("the phase check suggests one phase (nearly) vanished: if so the temperature "
                  "is a bound; rerun with --guess near the printed value", highlight=False)


train_app = typer.Typer(no_args_is_help=True, help="Train models on labelled data.")
app.add_typer(train_app, name="train")


def _channel_weights(text: str | None) -> list[dict[str, float]]:
    """``"Cu=1,Zr=-1"`` -> one extra channel; ``;`` separates channels."""
    if not text:
        return []
    channels = []
    for part in text.split(";"):
        table = {}
        for item in filter(None, (p.strip() for p in part.split(","))):
            key, sep, value = item.partition("=")
            try:
                table[key.strip()] = float(value)
            except ValueError:
                raise InputError(f"--channels: cannot read {item!r}; write SPECIES=WEIGHT pairs like Cu=1,Zr=-1") from None
            if not sep:
                raise InputError(f"--channels: cannot read {item!r}; write SPECIES=WEIGHT pairs like Cu=1,Zr=-1")
        channels.append(table)
    return channels


def _refuse_existing_model(output: str, force: bool) -> None:
    if Path(output).exists() and not force:
        raise InputError(f"{output}: already exists; pass --force to replace it")


def _labelled_frames(files: list[str], label_column: str | None, types: str | None):
    """(frame, per-atom names) of every frame of ``LABEL=FILE`` specs, or of ``FILE`` specs
    labelled by ``label_column`` (names, or vocabulary ids such as ``structure_id``)."""
    from structid.io.readers import open_trajectory
    from structid.labels import VOCABULARY, code_of

    for spec in files:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = None, spec
            if label_column is None:
                raise InputError(f"{spec}: give LABEL=FILE or --label-column")
        else:
            code_of(label)
        for frame in open_trajectory(path, types=_types(types)):
            if label is not None:
                yield frame, np.full(len(frame), label)
                continue
            if label_column not in frame.properties:
                raise InputError(f"{path}: no column {label_column!r} (columns: {', '.join(frame.properties) or 'none'})")
            column = np.asarray(frame.properties[label_column])
            if column.dtype.kind in "iuf" and (column.min() < 0 or column.max() >= len(VOCABULARY)):
                raise InputError(f"{path}: column {label_column!r} holds ids outside 0..{len(VOCABULARY) - 1}")
            names = np.asarray(VOCABULARY)[column.astype(int)] if column.dtype.kind in "iuf" else column.astype(str)
            for name in np.unique(names):
                code_of(str(name))
            yield frame, names


@train_app.command("nmcnn")
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
) -> None:
    """Train a Neighbors Map + CNN classifier; prints validation accuracy and confusion matrix."""
    from structid.descriptors.neighbors_map import NeighborsMap
    from structid.models.nmcnn import NMCNN
    from structid.models.training import augmented

    _refuse_existing_model(output, force)
    if not 0 <= missing < 1:
        raise InputError(f"--missing must be in [0, 1), got {missing}")
    descriptor = NeighborsMap(size=map_size, scale="auto", channel_weights=_channel_weights(channels))
    rng = np.random.default_rng(seed)
    fractions = np.round(np.arange(0, missing + 1e-9, 0.1), 3) if missing else [0.0]
    maps, labels = [], []
    for frame, names in _labelled_frames(files, label_column, types):
        frame = frame.replace(properties={"_label": names})
        for fraction in fractions:
            copy = augmented(frame, rng, missing=float(fraction), noise_fraction=0.5 if noise else 0.0, noise_sigma=noise)
            atoms = rng.choice(len(copy), size=min(atoms_per_frame, len(copy)), replace=False)
            maps.append(descriptor.compute(copy, atoms=atoms))
            labels.append(copy.properties["_label"][atoms])
    if not maps:
        raise InputError("no frames to train on")
    all_maps, all_labels = np.concatenate(maps), np.concatenate(labels)
    out.print(f"{len(all_maps):,} maps: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(all_labels, return_counts=True))))
    model = NMCNN(descriptor, epochs=epochs, seed=seed, architecture=architecture)
    with _progress() as bar:
        task = bar.add_task("training", total=epochs, status="")
        model.fit_maps(all_maps, all_labels, progress=lambda e: bar.update(
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


@train_app.command("less")
def train_less(
    files: Annotated[list[str], typer.Argument(help="LABEL=FILE or FILE with --label-column; with --extend: frames of the new class")],
    output: Annotated[str, typer.Option("--output", "-o", help="model file to write")] = "less.pkl",
    label_column: LabelColumnOpt = None,
    extend: Annotated[Optional[str], typer.Option("--extend", help="trained LESS model to extend with a new class (see --add)")] = None,
    add: Annotated[Optional[str], typer.Option("--add", help="with --extend: name of the new class, e.g. graphite")] = None,
    per_class: Annotated[Optional[int], typer.Option("--per-class", help="atoms per class (training: at most, default 4000; --extend: vectors sampled per old class and new atoms used, default 600)")] = None,
    paper_features: Annotated[bool, typer.Option("--paper-features", help="the paper's 12 features only (no averaged q̄_l)")] = False,
    seed: SeedOpt = 0,
    force: ReplaceModelOpt = False,
    types: TypesOpt = None,
) -> None:
    """Train a LESS stacked classifier on Steinhardt features, or extend one with a new class."""
    from structid.descriptors.steinhardt import Steinhardt
    from structid.models.less import EXTEND_PER_CLASS, LESS

    _refuse_existing_model(output, force)
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
        frames = [frame for spec in files for frame in _frames_of(spec, types)]
        with _progress() as bar:
            bar.add_task(f"extending with {add}", total=None, status="")
            model.extend(frames, add, n_per_class=per_class, seed=seed)
        out.print(f"added {add!r} to {extend}: {len(model.classes_)} classes, "
                  f"{per_class} samples per class, {time.perf_counter() - start:.1f} s")
    else:
        rng = np.random.default_rng(seed)
        features = Steinhardt(averaged=not paper_features)
        xs, ys = [], []
        for frame, names in _labelled_frames(files, label_column, types):
            keep = names != "unknown"
            xs.append(features.compute(frame)[keep])
            ys.append(names[keep])
        if not xs:
            raise InputError("no frames to train on")
        x, y = np.concatenate(xs), np.concatenate(ys)
        pick = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])
        x, y = x[pick], y[pick]
        out.print(f"{len(x):,} atoms: " + ", ".join(f"{k} {v}" for k, v in zip(*np.unique(y, return_counts=True))))
        model = LESS(features, seed=seed)
        with _progress() as bar:
            bar.add_task("training (5-fold level 0, LightGBM level 1)", total=None, status="")
            model.fit_features(x, y)
        out.print(f"trained in {model.history_['seconds']:.0f} s")
    model.save(output)
    out.print(f"model written to {output}", highlight=False)


@train_app.command("denoiser")
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
    from structid.models.denoiser import Denoiser

    _refuse_existing_model(output, force)
    if steps < 1 or batch < 1 or not 0 < sigma_max < 0.5:
        raise InputError("--steps and --batch must be >= 1 and --sigma-max in (0, 0.5)")
    names = [n.strip() for n in lattices.split(",") if n.strip()]
    model = Denoiser(species=[e.strip() for e in species.split(",") if e.strip()] if species else None, seed=seed)
    with _progress() as bar:
        task = bar.add_task("training", total=steps, status="")
        model.fit(names, steps=steps, batch=batch, sigma_max=sigma_max, checkpoint=checkpoint,
                  progress=lambda e: bar.update(task, completed=e["step"], status=f"loss {e['loss']:.5f}"))
    model.save(output)
    out.print(f"{model.n_parameters:,} parameters, final loss {model.history_['final_loss']:.5f}, "
              f"{model.history_['seconds']:.0f} s; model written to {output}", highlight=False)


def _frames_of(spec: str, types: str | None):
    from structid.io.readers import open_trajectory

    return open_trajectory(spec.partition("=")[2] or spec, types=_types(types))


bench_app = typer.Typer(no_args_is_help=True, help="Accuracy and speed benchmarks.")
app.add_typer(bench_app, name="bench")


@bench_app.command("dc3")
def bench_dc3(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated registered methods")] = "acna,ptm,diamond",
    systems: Annotated[Optional[str], typer.Option("--systems", "-s", help="comma-separated systems (default: all generated)")] = None,
    recipe: Annotated[str, typer.Option(help="which MD data: dc3 or cu60")] = "dc3",
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="default ~/.cache/structid or $STRUCTID_DATA")] = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the CSV and PNGs (default DATA/bench/RECIPE)")] = None,
) -> None:
    """Accuracy vs Th of each method on the DC3-protocol MD data: table, CSV, one PNG per system."""
    from structid.bench import dc3
    from structid.io.writers import AtomicFile
    from structid.md.recipes import data_dir as resolve
    from structid.registry import get_classifier

    names = [m.strip() for m in methods.split(",") if m.strip()]
    for name in names:
        get_classifier(name)  # unknown methods fail before the long run
    root = resolve(data_dir)
    chosen = [s.strip() for s in systems.split(",")] if systems else None
    runs = dc3.find_runs(root, recipe)
    with _progress() as bar:
        task = bar.add_task("classifying", total=len(runs), status="")
        rows = dc3.evaluate(root, names, recipe, chosen,
                            progress=lambda meta: bar.advance(task) or bar.update(task, status=meta["system"]))
    header, body = dc3.table(rows)
    table = Table(*header, title=f"accuracy (%) on {recipe} data, {root}")
    for row in body:
        table.add_row(*row)
    out.print(table)
    folder = Path(out_dir) if out_dir else root / "bench" / recipe
    folder.mkdir(parents=True, exist_ok=True)
    with AtomicFile(folder / f"{recipe}_accuracy.csv", force=True) as f:
        f.write(dc3.to_csv(rows).encode())
    with AtomicFile(folder / f"{recipe}_accuracy.md", force=True) as f:
        f.write(dc3.markdown(rows).encode())
    for name, data in dc3.figures(rows).items():
        with AtomicFile(folder / name.replace("dc3_", f"{recipe}_"), force=True) as f:
            f.write(data)
    out.print(f"CSV, Markdown table and plots in {folder}", highlight=False)


@bench_app.command("speed")
def bench_speed(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated registered methods")] = "ptm,acna,diamond",
    repeats: Annotated[int, typer.Option(help="timed repetitions (the best counts)")] = 3,
) -> None:
    """Atoms/s of each method on the same 100,800-atom fcc frame, and the ratio to PTM."""
    from structid.bench.speed import benchmark_frame, time_methods

    frame = benchmark_frame()
    results = time_methods(frame, [m.strip() for m in methods.split(",") if m.strip()], repeats)
    ptm = len(frame) / results[0][1]
    table = Table("method", "seconds", "atoms/s", "x PTM", title=f"{len(frame):,}-atom fcc frame with noise")
    for name, seconds in results:
        rate = len(frame) / seconds
        table.add_row(name, f"{seconds:.3f}", f"{rate:,.0f}", f"{rate / ptm:.2f}")
    out.print(table)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        app()
    except StructidError as exc:
        err.print(f"structid: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("structid: interrupted", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
