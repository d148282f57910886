"""``structid bench``: accuracy on the generated MD data and speed against PTM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from structid.bench import dc3, glass, real, unknown
from structid.bench.speed import benchmark_frame, time_methods
from structid import runtime
from structid.cli.common import DataDirOpt, DeviceOpt, ThreadsOpt, names, out, progress
from structid.io.writers import AtomicFile
from structid.md.store import data_dir as resolve_data_dir, finished_runs
from structid.registry import get_classifier, pipeline

app = typer.Typer(no_args_is_help=True, help="Accuracy and speed benchmarks.")


@app.command("dc3")
def bench_dc3(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated registered methods")] = "acna,ptm,diamond",
    systems: Annotated[Optional[str], typer.Option("--systems", "-s", help="comma-separated systems (default: all generated)")] = None,
    recipe: Annotated[str, typer.Option(help="which MD data: dc3 or cu60")] = "dc3",
    data_dir: DataDirOpt = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the CSV and PNGs (default DATA/bench/RECIPE)")] = None,
) -> None:
    """Accuracy vs Th of each method on the DC3-protocol MD data: table, CSV, one PNG per system."""
    chosen_methods = names(methods) or []
    for name in chosen_methods:
        get_classifier(name)  # unknown methods fail before the long run
    root = resolve_data_dir(data_dir)
    chosen = names(systems)
    runs = finished_runs(root, recipe, chosen)
    with progress() as bar:
        task = bar.add_task("classifying", total=len(runs), status="")
        rows = dc3.evaluate(root, chosen_methods, recipe, chosen,
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


#: the pipelines `bench real` compares by default
REAL_PIPELINES = ("default,acna,ptm,nmcnn,less,ptm+denoise8@denoiser-metals,ptm+denoise8@denoiser-dc3,"
                  "ptm+denoise8@denoiser-all")


@app.command("real")
def bench_real(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated methods or pipelines "
                                         "(e.g. ptm+denoise8@denoiser-dc3, nmcnn+avg12)")] = REAL_PIPELINES,
    systems: Annotated[Optional[str], typer.Option("--systems", "-s", help="comma-separated systems (default: all generated)")] = None,
    data_dir: DataDirOpt = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the CSV, Markdown and PNG (default DATA/bench/real)")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Accuracy on realistic samples (`structid md run real`) against the inherent structure:
    per crystal class, layers below free surfaces, surface, defect and boundary atoms."""
    runtime.configure(threads, "cpu")
    classifiers = {name: pipeline(name) for name in names(methods) or []}
    root = resolve_data_dir(data_dir)
    chosen = names(systems)
    runs = finished_runs(root, "real", chosen)
    with progress() as bar:
        task = bar.add_task("classifying", total=len(runs), status="")
        rows = real.evaluate(root, classifiers, chosen,
                             progress=lambda meta: bar.advance(task) or bar.update(task, status=meta["run"]))
    for title, (header, body) in (("by category", real.summary_table(rows)),
                                  ("by sample", real.sample_table(rows))):
        table = Table(*header, title=f"accuracy (%) on realistic samples, {title}")
        for row in body:
            table.add_row(*row)
        out.print(table)
    folder = Path(out_dir) if out_dir else root / "bench" / "real"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("real_accuracy.csv", real.to_csv(rows).encode()),
                       ("real_accuracy.md", real.markdown(rows).encode()),
                       ("real_accuracy.png", real.figure(rows))):
        with AtomicFile(folder / name, force=True) as f:
            f.write(data)
    out.print(f"CSV, Markdown tables and plot in {folder}", highlight=False)


#: the pipelines `bench unknown` compares by default
UNKNOWN_PIPELINES = "default,nmcnn,nmcnn+order,nmcnn+avg12+order,less,less+order"


@app.command("unknown")
def bench_unknown(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated methods or pipelines")] = UNKNOWN_PIPELINES,
    seed: Annotated[int, typer.Option(help="seed of the lattices' thermal noise")] = 0,
    known: Annotated[bool, typer.Option("--known/--no-known", help="also the held-out DC3 frames and the glasses (needs `structid md run dc3` and `cycle`)")] = True,
    data_dir: DataDirOpt = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the CSV and Markdown (default DATA/bench/unknown)")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Crystals no model knows (A15, beta-Sn, alpha-U, cristobalite, quartz, graphite, ice Ih):
    the share of atoms flagged unknown/other and given a wrong label; and on known structures
    the share a check flags wrongly."""
    runtime.configure(threads, "cpu")
    classifiers = {name: pipeline(name) for name in names(methods) or []}
    root = resolve_data_dir(data_dir)
    with progress() as bar:
        task = bar.add_task("classifying", total=None, status="")
        rows = unknown.evaluate(classifiers, seed, root if known else None,
                                progress=lambda name: bar.advance(task) or bar.update(task, status=name))
    text = unknown.markdown(rows)
    out.print(text, highlight=False)
    folder = Path(out_dir) if out_dir else root / "bench" / "unknown"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("unknown.csv", unknown.to_csv(rows)), ("unknown.md", text)):
        with AtomicFile(folder / name, force=True) as f:
            f.write(data.encode())
    out.print(f"CSV and Markdown in {folder}", highlight=False)


@app.command("nucleus")
def bench_nucleus(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated methods or pipelines")] = "ptm,ptm+denoise8,nmcnn,nmcnn+avg12+order,less,default",
    systems: Annotated[str, typer.Option("--systems", "-s", help="comma-separated systems of the nucleus runs")] = "al,fe,mg",
    data_dir: DataDirOpt = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the Markdown (default DATA/bench/nucleus)")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Crystal nuclei in their undercooled liquid (`structid md run nucleus`): % of nucleus atoms
    given their lattice and % of liquid atoms not called crystalline, by distance from the
    nucleus's surface; judged as built, then on the atoms whose inherent structure agrees."""
    from structid.bench.interfaces import interface_table

    runtime.configure(threads, "cpu")
    classifiers = {name: pipeline(name) for name in names(methods) or []}
    root = resolve_data_dir(data_dir)
    chosen = names(systems) or []
    text = ("### Truth as built (the ball crystalline, the rest liquid)\n\n"
            + interface_table(root, classifiers, chosen, recipe="nucleus")
            + "\n### Truth where the inherent structure agrees with what was built\n\n"
            + interface_table(root, classifiers, chosen, recipe="nucleus", truth="agreed"))
    out.print(text, highlight=False)
    folder = Path(out_dir) if out_dir else root / "bench" / "nucleus"
    folder.mkdir(parents=True, exist_ok=True)
    with AtomicFile(folder / "nucleus.md", force=True) as f:
        f.write(text.encode())
    out.print(f"Markdown in {folder}", highlight=False)


#: the pipelines `bench glass` compares by default
GLASS_PIPELINES = "ptm,acna,nmcnn:nmcnn-metals,nmcnn:nmcnn-metals-glass,nmcnn:nmcnn-metals-glass+avg12,less,default"


@app.command("glass")
def bench_glass(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated methods or pipelines (METHOD:MODEL names a model)")] = GLASS_PIPELINES,
    plot: Annotated[str, typer.Option(help="comma-separated methods whose fractions through the cycle runs are plotted against PTM's: per run, the first that ran on it")] = "default",
    data_dir: DataDirOpt = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="folder for the CSV, Markdown and plots (default DATA/bench/glass)")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Liquid, glass and crystal snapshots of melt-quench runs no model trained on (other seeds,
    sizes, cooling rates; Pd unseen): % of atoms right per method; fractions through the
    heat-melt-quench cycles (the Neighbors Map paper's Figs. 5 and 7)."""
    runtime.configure(threads, "cpu")
    classifiers = {name: pipeline(name) for name in names(methods) or []}
    root = resolve_data_dir(data_dir)
    with progress() as bar:
        task = bar.add_task("classifying", total=None, status="")
        rows, tracks = glass.evaluate(classifiers, root,
                                      progress=lambda name: bar.advance(task) or bar.update(task, status=name))
    text = glass.markdown(rows)
    out.print(text, highlight=False)
    folder = Path(out_dir) if out_dir else root / "bench" / "glass"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"glass.csv": glass.to_csv(rows).encode(), "glass.md": text.encode(),
             "glass_fractions.csv": glass.tracks_csv(tracks).encode()}
    for system in dict.fromkeys(t.system for t in tracks):
        ran = {t.method for t in tracks if t.system == system}
        chosen = next((m for m in names(plot) or [] if m in ran), None)
        if chosen is not None:
            files[f"glass_{system}.png"] = glass.figure(tracks, system, chosen)
    for name, data in files.items():
        with AtomicFile(folder / name, force=True) as f:
            f.write(data)
    out.print(f"CSV, Markdown and plots in {folder}", highlight=False)


@app.command("speed")
def bench_speed(
    methods: Annotated[str, typer.Option("--methods", "-m", help="comma-separated methods or pipelines (e.g. nmcnn+order)")] = "ptm,acna,diamond",
    repeats: Annotated[int, typer.Option(help="timed repetitions (the best counts)")] = 3,
    denoise: Annotated[int, typer.Option(help="also time this many denoising steps (the default denoiser; 0: off)")] = 0,
    threads: ThreadsOpt = None,
    device: DeviceOpt = "cpu",
) -> None:
    """Atoms/s of each method on the same 100,800-atom fcc frame, and the ratio to PTM."""
    runtime.configure(threads, device)
    out.print(f"CPU: {runtime.cpu_model()}; {runtime.threads()} thread(s) of {runtime.available_cores()} available "
              f"core(s); denormals flushed: {'yes' if runtime.denormals_flushed() else 'no'}; "
              f"device: {runtime.device()}", highlight=False)
    frame = benchmark_frame()
    results = time_methods(frame, names(methods) or [], repeats, denoise)
    ptm = len(frame) / results[0][1]
    table = Table("method", "seconds", "atoms/s", "x PTM", title=f"{len(frame):,}-atom fcc frame with noise")
    for name, seconds in results:
        rate = len(frame) / seconds
        table.add_row(name, f"{seconds:.3f}", f"{rate:,.0f}", f"{rate / ptm:.2f}")
    out.print(table)
