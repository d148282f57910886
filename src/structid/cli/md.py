"""``structid md``: LAMMPS runs that make labelled snapshots, and melting points."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from structid.cli.common import DataDirOpt, err, floats, names, out
from structid.md.engine import LammpsRunError, require_md
from structid.md.melting import melting_point
from structid.md.recipes import RECIPES, Run, initial_frame, plan
from structid.md.simulate import execute_isolated
from structid.md.store import data_dir as resolve_data_dir
from structid.md.systems import CU_60GPA, EXTENSION, GLASS, SYSTEMS, get_system

app = typer.Typer(no_args_is_help=True, help="Molecular dynamics with LAMMPS: labelled snapshots.")


@app.command("list")
def md_list() -> None:
    """The recipes and the systems they simulate."""
    table = Table("recipe", "what")
    for name, description in RECIPES.items():
        table.add_row(name, description)
    out.print(table)

    systems = Table("system", "material and potential", "label", "Tm (K)", "P (GPa)", "atoms", "Tm source")
    for s in [*SYSTEMS.values(), *CU_60GPA.values(), *GLASS.values(), *EXTENSION.values()]:
        n = len(initial_frame(Run("", s, "", (), 0, s.repeat)))
        systems.add_row(s.name, s.title, s.label, f"{s.tm:g}", f"{s.pressure / 1e4:g}", str(n), s.tm_source)
    out.print(systems)


@app.command("run")
def md_run(
    recipe: Annotated[str, typer.Argument(help=f"{', '.join(RECIPES)} (see `structid md list`)")],
    systems: Annotated[Optional[str], typer.Option("--systems", "-s", help="comma-separated systems (default: all of the recipe)")] = None,
    temps: Annotated[Optional[str], typer.Option("--temps", help="Th = T/Tm values, e.g. 0.25,0.5 (ramp: start,stop)")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="about this many atoms per run (default ~2,000)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="few hundred atoms and steps (for tests)")] = False,
    data_dir: DataDirOpt = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="OpenMP threads per run (default: all cores)")] = None,
) -> None:
    """Run a recipe; finished runs are skipped, so an interrupted command resumes."""
    require_md()
    chosen = names(systems)
    th = floats(temps, "--temps")
    runs = plan(recipe, chosen, th, size, quick, seed)
    root = resolve_data_dir(data_dir)
    spec = {"recipe": recipe, "systems": chosen, "temps": th, "n_atoms": size, "quick": quick, "seed": seed}
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


@app.command("melting")
def md_melting(
    system: Annotated[str, typer.Argument(help="a system of `structid md list`")],
    guess: Annotated[Optional[float], typer.Option(help="starting temperature, K (default: the system's Tm)")] = None,
    time_ps: Annotated[float, typer.Option("--time", help="NPH coexistence time, ps")] = 40.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[Optional[int], typer.Option(help="OpenMP threads")] = None,
) -> None:
    """Measure the melting point of a system's potential by solid-liquid coexistence."""
    require_md()
    target = get_system(system)
    start = guess if guess is not None else target.tm
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"coexistence {system}", total=int((12 + time_ps) / target.timestep))
        result = melting_point(target, start, time_ps=time_ps, seed=seed, threads=threads,
                               on_progress=lambda n: bar.advance(task, n))
    out.print(f"{system}: Tm = {result.temperature:.0f} ± {result.spread:.0f} K "
              f"({result.n_atoms} atoms; table value {target.tm:g} K; experimental phase check: "
              f"{result.crystal_fraction:.0%} crystalline at the end)", highlight=False)
    if not 0.15 < result.crystal_fraction < 0.85:
        out.print("the phase check suggests one phase (nearly) vanished: if so the temperature "
                  "is a bound; rerun with --guess near the printed value", highlight=False)
