"""Running MD recipes with LAMMPS: one run gives a compressed multi-frame LAMMPS dump (true
labels in ``StructureType``) and a JSON file of per-frame metadata (T, P, potential energy,
label), both written under temporary names and renamed when the run completes, so that an
interrupted run leaves nothing behind and a finished run is skipped next time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from structid.errors import StructidError
from structid.frame import Frame
from structid.io.writers import AtomicFile, TrajectoryWriter
from structid.labels import CODE, Labels
from structid.md.engine import LammpsRunError, start_lammps
from structid.md.recipes import Run, Slab, initial_frame
from structid.md.store import FORMAT_VERSION, INHERENT_COLUMN, log_path
from structid.md.systems import System
from structid.md.truth import truth_labels


def execute(run: Run, root: Path, threads: int | None = None,
            on_progress: Callable[[int], None] | None = None) -> tuple[Path, Path]:
    """Run one MD run unless its output exists; returns (dump, metadata) paths."""
    dump_path, meta_path = run.paths(root)
    if dump_path.exists() and meta_path.exists():
        if on_progress:
            on_progress(run.steps)
        return dump_path, meta_path
    dump_path.parent.mkdir(parents=True, exist_ok=True)
    frame0 = initial_frame(run)
    meta = {"format_version": FORMAT_VERSION, "recipe": run.recipe, "system": run.system.name,
            "title": run.system.title, "run": run.name, "seed": run.seed, "tm": run.system.tm,
            "tm_source": run.system.tm_source, "pressure_bar": run.system.pressure,
            "timestep_ps": run.system.timestep, "lattice": run.system.lattice,
            "n_atoms": len(frame0), "pair": list(run.system.pair), **run.meta, "frames": []}
    with tempfile.TemporaryDirectory() as work, \
            TrajectoryWriter(dump_path, force=True) as writer:
        lmp = start_lammps(threads)
        log = Path(work) / "log.lammps"
        try:
            # the thermo output a user's own run leaves: `train --log` and `classify --log` read it
            lmp.command(f"log {log}")
            setup_lammps(lmp, run.system, frame0, work)
            simulate = _simulate if run.sample is None else _simulate_sample
            for frame, info in simulate(lmp, run, frame0, on_progress):
                names = frame.properties.get("label")
                if names is None and info["label"] is not None:
                    names = np.full(len(frame), info["label"])
                extra = {k: v for k, v in frame.properties.items() if k != "label"}
                if run.inherent:
                    inherent = truth_labels(inherent_structure(run.system, frame, threads), run.system.lattice)
                    extra[INHERENT_COLUMN] = np.array([CODE[name] for name in inherent], dtype=np.int16)
                writer.write(frame.replace(properties=extra),
                             None if names is None else Labels.from_names(names, method="md"))
                meta["frames"].append(info)
        except StructidError:
            raise
        except Exception as exc:  # the lammps module raises plain Exception on LAMMPS errors
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise LammpsRunError(f"MD run {run.key} failed: {message}") from None
        finally:
            lmp.close()
        with AtomicFile(log_path(dump_path), force=True) as out:
            out.write(log.read_bytes() if log.exists() else b"")
    with AtomicFile(meta_path, force=True) as out:
        out.write(json.dumps(meta, indent=1).encode())
    return dump_path, meta_path


def setup_lammps(lmp, system: System, frame: Frame, work: str) -> None:
    """Box, atoms (``frame``'s positions, taken from the cell's origin) and ``system``'s
    potential in a fresh LAMMPS instance; ``work`` is a folder for the potential's files."""
    for name, text in system.files.items():
        Path(work, name).write_text(text)
    c = frame.cell
    ionic = system.charges is not None
    lmp.commands_list([
        "units metal",
        f"atom_style {'charge' if ionic else 'atomic'}",
        "boundary p p p",
        "region box prism 0 {} 0 {} 0 {} {} {} {}".format(
            *(repr(float(v)) for v in (c[0, 0], c[1, 1], c[2, 2], c[1, 0], c[2, 0], c[2, 1]))),
        f"create_box {len(system.species)} box",
    ])
    types = np.array([system.species.index(s) + 1 for s in frame.species])
    positions = frame.wrapped().positions - frame.origin
    lmp.create_atoms(len(frame), np.arange(1, len(frame) + 1).tolist(), types.tolist(),
                     positions.ravel().tolist())
    commands = [f"mass {k + 1} {m}" for k, m in enumerate(system.masses)]
    if ionic:
        commands += [f"set type {k + 1} charge {q}" for k, q in enumerate(system.charges)]
    commands += system.pair_commands(work)
    commands += ["neighbor 2.0 bin", "neigh_modify every 1 delay 0 check yes",
                 f"timestep {system.timestep}", "thermo_style custom step temp press pe vol"]
    lmp.commands_list([c for c in commands if c])


def _simulate(lmp, run: Run, frame0: Frame, on_progress) -> Iterator[tuple[Frame, dict]]:
    system = run.system
    dt = system.timestep
    pdamp = 1000 * dt
    first = run.stages[0]
    lmp.command(f"velocity all create {2 * first.t_start!r} {run.seed} mom yes rot no dist gaussian")
    slab = run.slab
    if slab is None:
        # NPH with x and y coupled keeps hexagonal cells hexagonal while c/a relaxes.
        lmp.command(f"fix baro all nph aniso {system.pressure!r} {system.pressure!r} {pdamp!r} couple xy")
        crystal = "all"
    else:
        # fixed cell: the crystal keeps its lattice parameter, the slab melts under its own pressure
        in_slab = slab.melted(frame0)
        # the group by atom id: the same atoms as the Python-side mask, whatever the shape
        ids = " ".join(str(int(i)) for i in frame0.ids[in_slab])
        lmp.commands_list([
            f"group slab id {ids}", "group crystal subtract all slab",
            f"fix tether crystal spring/self {slab.spring!r}", "fix integrate all nve"])
        crystal = "crystal"
    tethered = slab is not None
    step = 0
    for k, stage in enumerate(run.stages):
        n_steps = int(round(stage.time / dt))
        lmp.command(f"fix csvr {crystal} temp/csvr {stage.t_start!r} {stage.t_stop!r} {100 * dt!r} "
                    f"{run.seed + k}")
        if tethered and not stage.tether:
            lmp.command("unfix tether")
            tethered = False
        if slab is not None:
            lmp.command(f"fix csvr_slab slab temp/csvr {stage.t_slab!r} {stage.t_slab!r} "
                        f"{100 * dt!r} {run.seed + 1000 + k}")
        chunks = np.linspace(0, n_steps, stage.frames + 1).round().astype(int) if stage.frames else [0, n_steps]
        start = step
        for a, b in zip(chunks[:-1], chunks[1:]):
            if b > a:
                # a full setup per chunk: `pre no` crashed pair snap (Li) inside LAMMPS
                lmp.command(f"run {b - a} start {start} stop {start + n_steps}")
            step += int(b - a)
            if on_progress:
                on_progress(int(b - a))
            if stage.frames:
                setpoint = stage.t_start + (stage.t_stop - stage.t_start) * (step - start) / max(n_steps, 1)
                frame, info = snapshot(lmp, frame0, step, setpoint, stage.label(setpoint))
                if slab is not None and info["label"] is not None:
                    info["label"], info["setpoint_slab_K"] = "per-atom", stage.t_slab
                    frame = frame.replace(properties={"label": _slab_labels(
                        frame, in_slab, slab, stage.label(setpoint), system.nn_distance)})
                yield frame, info
        lmp.command("unfix csvr")
        if slab is not None:
            lmp.command("unfix csvr_slab")


def _simulate_sample(lmp, run: Run, frame0: Frame, on_progress) -> Iterator[tuple[Frame, dict]]:
    """A realistic sample: relaxed, held at the stage's temperature (pressure controlled along
    the axes without vacuum), one snapshot, then minimised at fixed cell for its truth."""
    from structid.md.truth import surface_depth

    system = run.system
    stage = run.stages[0]
    dt = system.timestep
    relax = "minimize 0.0 1.0e-8 5000 50000"
    lmp.commands_list(["min_style cg", relax, "reset_timestep 0"])
    open_axes = frame0.info.get("open_axes", ())
    lmp.command(f"velocity all create {2 * stage.t_start!r} {run.seed} mom yes "
                f"rot {'yes' if len(open_axes) == 3 else 'no'} dist gaussian")
    pressure, pdamp = system.pressure, 1000 * dt
    closed = [axis for k, axis in enumerate("xyz") if k not in open_axes]
    if len(closed) == 3:
        lmp.command(f"fix integrate all nph aniso {pressure!r} {pressure!r} {pdamp!r}")
    elif closed:
        lmp.command("fix integrate all nph " + " ".join(f"{a} {pressure!r} {pressure!r} {pdamp!r}" for a in closed))
    else:
        lmp.command("fix integrate all nve")
    lmp.command(f"fix csvr all temp/csvr {stage.t_start!r} {stage.t_stop!r} {100 * dt!r} {run.seed}")
    n_steps = int(round(stage.time / dt))
    for a, b in zip(*(lambda c: (c[:-1], c[1:]))(np.linspace(0, n_steps, 5).round().astype(int))):
        lmp.command(f"run {b - a}")
        if on_progress:
            on_progress(int(b - a))
    frame, info = snapshot(lmp, frame0, n_steps, stage.t_stop, "per-atom")
    lmp.commands_list(["unfix csvr", "unfix integrate", relax])
    inherent, _ = snapshot(lmp, frame0, n_steps, stage.t_stop, None)
    inherent = inherent.replace(info={**inherent.info, "source": f"inherent structure of {run.key}"})
    names = truth_labels(inherent, system.lattice)
    depth = surface_depth(inherent)
    info["inherent_pe_eV"] = float(lmp.get_thermo("pe"))
    info["truth"] = {str(k): int(v) for k, v in zip(*np.unique(names, return_counts=True))}
    info["open_axes"] = list(open_axes)
    yield frame.replace(properties={"label": names, "depth": depth}), info


def inherent_structure(system: System, frame: Frame, threads: int | None = 1) -> Frame:
    """``frame`` energy-minimised at fixed cell with ``system``'s potential (conjugate gradient,
    as the realistic samples' truth): the inherent structure, thermal noise removed. Atoms keep
    their order; positions are in ``frame``'s coordinates (Å)."""
    with tempfile.TemporaryDirectory() as work:
        lmp = start_lammps(threads)
        try:
            setup_lammps(lmp, system, frame, work)
            lmp.commands_list(["min_style cg", "minimize 0.0 1.0e-8 5000 50000"])
            n = lmp.get_natoms()
            ids = np.array(lmp.numpy.extract_atom("id")[:n], dtype=np.int64)
            minimised = np.empty((n, 3))
            minimised[ids - 1] = np.array(lmp.numpy.extract_atom("x")[:n])
        except Exception as exc:  # the lammps module raises plain Exception on LAMMPS errors
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise LammpsRunError(f"minimising {frame.info.get('source', 'the frame')} failed: {message}") from None
        finally:
            lmp.close()
    return frame.replace(positions=minimised + frame.origin)


def _slab_labels(frame: Frame, in_slab: np.ndarray, slab: Slab, crystal: str,
                 nn_distance: float) -> np.ndarray:
    """Per-atom labels of an interface snapshot: see :class:`Slab`."""
    gap = slab.distance(frame)
    return np.where(~in_slab, crystal, np.where(gap < slab.margin * nn_distance, "unknown", slab.melt_label))


def snapshot(lmp, frame0: Frame, step: int, setpoint: float, label: str | None) -> tuple[Frame, dict]:
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.extract_box()
    lo, hi = np.array(boxlo), np.array(boxhi)
    cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
    n = lmp.get_natoms()
    ids = np.array(lmp.numpy.extract_atom("id")[:n], dtype=np.int64)
    order = np.argsort(ids)
    positions = np.array(lmp.numpy.extract_atom("x")[:n])[order]
    frame = Frame(positions=positions, cell=cell, pbc=True, species=frame0.species[ids[order] - 1],
                  ids=ids[order], origin=lo, info={"timestep": step}).wrapped()
    thermo = {q: float(lmp.get_thermo(q)) for q in ("temp", "press", "pe", "vol")}
    info = {"timestep": step, "setpoint_K": setpoint, "T_K": thermo["temp"],
            "P_bar": thermo["press"], "pe_eV": thermo["pe"], "volume_A3": thermo["vol"],
            "label": label}
    return frame, info


def execute_isolated(run: Run, root: Path, spec: dict, threads: int | None = None,
                     on_progress: Callable[[int], None] | None = None) -> None:
    """:func:`execute` in a child process (see :mod:`structid.md.worker`)."""
    dump_path, meta_path = run.paths(root)
    if dump_path.exists() and meta_path.exists():
        if on_progress:
            on_progress(run.steps)
        return
    args = json.dumps({**spec, "key": run.key, "root": str(root), "threads": threads})
    child = subprocess.Popen([sys.executable, "-m", "structid.md.worker", args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stdout:
        if line.startswith("progress ") and on_progress:
            on_progress(int(line.split()[1]))
    error = child.stderr.read().strip()
    if child.wait() != 0:
        detail = error.splitlines()[-1] if error else f"LAMMPS crashed (exit status {child.returncode})"
        raise LammpsRunError(detail if detail.startswith("MD run") else f"MD run {run.key} failed: {detail}")
