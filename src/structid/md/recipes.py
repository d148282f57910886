"""MD recipes: what to simulate to make labelled snapshots (the DC3 protocol, heating ramps,
melt-and-quench, crystal/amorphous interfaces). :func:`plan` gives the runs of a recipe;
:mod:`structid.md.simulate` runs them and :mod:`structid.md.store` says where the results go.

Each run is deterministic given its seed.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.lattices import lattice, lattice_spec
from structid.md import store
from structid.md.systems import CU_60GPA, EXTENSION, FOREIGN, GLASS, REAL, SYSTEMS, System


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
    #: whether the crystal of an interface run stays tethered to its sites in this stage
    tether: bool = True


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
    #: "layer" (above), or "sphere": everything but a crystal ball of ``radius`` (a share of the
    #: shortest cell side) at the cell's centre melts, a crystal nucleus in its liquid
    shape: str = "layer"
    radius: float = 0.0
    #: label of the molten atoms
    melt_label: str = "amorphous"

    def distance(self, frame: Frame) -> np.ndarray:
        """(n,) distance (Å) of every atom to the boundary between crystal and melt (periodic)."""
        if self.shape == "layer":
            return distance_to_slab_faces(frame, self)
        return np.abs(self._from_centre(frame) - self._radius(frame))

    def melted(self, frame: Frame) -> np.ndarray:
        """(n,) whether each atom (of the starting frame) is in the region that melts."""
        if self.shape == "layer":
            z = (frame.positions[:, 2] - frame.origin[2]) / frame.cell[2, 2]
            return (z >= self.lo) & (z < self.hi)
        return self._from_centre(frame) > self._radius(frame)

    def _radius(self, frame: Frame) -> float:
        return self.radius * float(np.min(np.linalg.norm(frame.cell, axis=1)))

    @staticmethod
    def _from_centre(frame: Frame) -> np.ndarray:
        s = (frame.positions - frame.origin) @ np.linalg.inv(frame.cell) - 0.5
        s -= np.round(s)
        return np.linalg.norm(s @ frame.cell, axis=1)


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
    #: a realistic sample (:data:`structid.md.samples.BUILDERS`) of about ``meta["n_atoms"]``
    #: atoms instead of the perfect crystal; labelled from its inherent structure
    sample: str | None = None
    #: each snapshot is also energy-minimised and its inherent structure labelled
    #: (:func:`structid.md.truth.truth_labels`), kept in the ``inherent_structure`` column
    inherent: bool = False

    @property
    def key(self) -> str:
        return f"{self.recipe}/{self.system.name}/{self.name}"

    def paths(self, root: Path) -> tuple[Path, Path]:
        """(dump, metadata) files of this run under the data directory ``root``."""
        return store.run_paths(root, self.recipe, self.system.name, self.name)

    @property
    def steps(self) -> int:
        return sum(int(round(s.time / self.system.timestep)) for s in self.stages)


def repeat_for(system: System, n_atoms: int | None) -> tuple[int, int, int]:
    """Cell repetitions giving about ``n_atoms`` atoms (the system's default when None)."""
    if n_atoms is None:
        return system.repeat
    per_cell = len(lattice_spec(system.lattice).basis)
    default = np.array(system.repeat, dtype=float)
    scale = (n_atoms / (per_cell * default.prod())) ** (1 / 3)
    return tuple(int(max(2, round(r * scale))) for r in default)


def run_seed(base: int, *parts: str) -> int:
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
            ), run_seed(seed, recipe, system.name, f"c{th}"), repeat, {"th": th, "phase": "crystal"}))
        for th in liquid_temps:
            t = th * system.tm
            runs.append(Run(recipe, system, f"liquid-th{th:.2f}", (
                Stage(2 * system.tm, 2 * system.tm, schedule.melt),
                Stage(t, t, schedule.equilibrate),
                Stage(t, t, schedule.sample, schedule.frames, lambda _: "liquid"),
            ), run_seed(seed, recipe, system.name, f"l{th}"), repeat, {"th": th, "phase": "liquid"}))
    return runs


def ramp_runs(systems: list[System], t_from: float, t_to: float, time: float, frames: int,
              n_atoms: int | None, seed: int) -> list[Run]:
    """Heating from ``t_from`` to ``t_to`` (multiples of Tm) over ``time`` ps, unlabelled
    snapshots for tracking the melting transition."""
    return [Run("ramp", s, f"ramp-{t_from:.2f}-{t_to:.2f}", (
        Stage(t_from * s.tm, t_from * s.tm, 0.2 * time),
        Stage(t_from * s.tm, t_to * s.tm, time, frames),
    ), run_seed(seed, "ramp", s.name), repeat_for(s, n_atoms), {"t_from": t_from, "t_to": t_to})
        for s in systems]


#: quench times (ps) of the quench recipe: two cooling rates, ~1.4e14 and ~2.9e13 K/s
QUENCH_TIMES = (20.0, 100.0)


def quench_runs(systems: list[System], schedule: Schedule, quench_times: tuple[float, ...], frames: int,
                n_atoms: int | None, seed: int) -> list[Run]:
    """Crystal at 0.3 Tm, melt at 2 Tm, quench to 0.3 Tm in each of ``quench_times`` ps, hold.

    Label windows of the thermostat setpoint: crystal before melting; ``liquid`` at T >= Tm;
    ``amorphous`` at T <= 0.5 Tm after the quench; unlabelled in between.
    """
    runs = []
    for s, quench_time in itertools.product(systems, quench_times):
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
        ), run_seed(seed, "quench", s.name, f"{quench_time:g}"), repeat_for(s, n_atoms),
            {"quench_rate_K_per_ps": (high - low) / quench_time}))
    return runs


def cycle_runs(systems: list[System], heat_time: float, cool_time: float, frames: int,
               n_atoms: int | None, seed: int) -> list[Run]:
    """Heat, melt and quench with snapshots all the way (the Neighbors Map paper's Figs. 5 and
    7): crystal at 0.3 Tm heated to 1.6 Tm in ``heat_time`` ps, held, cooled to 0.3 Tm in
    ``cool_time`` ps, held; ``frames`` snapshots on the heating and ``frames`` on the cooling.
    Random alloys (``composition``) have no crystal of their own: they are melted at 2 Tm first
    and only cooled. The labels are the true phase where the setpoint leaves no doubt (crystal
    up to 0.8 Tm on heating, liquid from 1.45 Tm on heating and down to Tm on cooling, glass
    from 0.5 Tm down); frames in between are unlabelled, as the transitions' temperatures are
    what a user measures."""
    runs = []
    for s in systems:
        low, high = 0.3 * s.tm, 1.6 * s.tm
        hold = max(frames // 10, 1)
        liquid = Stage(high, high, 0.1 * cool_time, hold, lambda _: "liquid")
        if s.composition is None:
            crystal = s.label
            start = (Stage(low, low, 0.1 * heat_time, hold, lambda _, c=crystal: c),
                     Stage(low, high, heat_time, frames,
                           lambda t, tm=s.tm, c=crystal: c if t <= 0.8 * tm else "liquid" if t >= 1.45 * tm else None))
        else:
            start = (Stage(2 * s.tm, 2 * s.tm, 0.1 * heat_time),)
        runs.append(Run("cycle", s, "cycle", (
            *start, liquid,
            Stage(high, low, cool_time, frames,
                  lambda t, tm=s.tm: "liquid" if t >= tm else "amorphous" if t <= 0.5 * tm else None),
            Stage(low, low, 0.1 * cool_time, hold, lambda _: "amorphous"),
        ), run_seed(seed, "cycle", s.name), repeat_for(s, n_atoms),
            {"heat_rate_K_per_ps": (high - low) / heat_time, "cool_rate_K_per_ps": (high - low) / cool_time}))
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
        ), run_seed(seed, "interface", s.name), repeat_for(s, n_atoms), {"th_crystal": 0.5, "th_slab": 1.5},
            slab=Slab()))
    return runs


#: the crystal nucleus of the nucleus recipe: a ball of 0.3 cell sides (~11 % of the atoms),
#: its liquid thinned by 9 % (the cell keeps the 0 K lattice; a metal melt near Tm is ~7 % less
#: dense than its crystal, which itself expands ~2 % by then)
NUCLEUS = Slab(shape="sphere", radius=0.3, melt_label="liquid", thinning=0.09)


def nucleus_runs(systems: list[System], schedule: Schedule, n_atoms: int | None, seed: int,
                 th: float = 0.8) -> list[Run]:
    """A crystal nucleus in its undercooled liquid: everything but a ball (:data:`NUCLEUS`) is
    melted at 3 Tm while the ball stays tethered to its sites at ``th`` Tm, the melt is cooled to
    ``th`` Tm, then the tether is released for the sampling stage (a free nucleus, whose surface
    may melt or grow by a layer). Nucleus atoms carry the lattice's label, the liquid
    ``liquid``, liquid atoms within one neighbour distance of the ball ``unknown``. With the
    default 6,000 atoms the ball's radius (~1.4 nm in Al) is above the critical one at 0.8 Tm
    (~1 nm from classical nucleation theory), so it does not melt back. Each snapshot's
    inherent structure is labelled too: where the crystal now ends, whatever was built."""
    runs = []
    for s in systems:
        t = th * s.tm
        runs.append(Run("nucleus", s, f"nucleus-th{th:.2f}", (
            Stage(t, t, schedule.melt, t_slab=3.0 * s.tm),
            Stage(t, t, schedule.equilibrate, t_slab=t),
            Stage(t, t, schedule.sample / 2, schedule.frames // 2, lambda _, s=s: s.label, t_slab=t, tether=False),
        ), run_seed(seed, "nucleus", s.name), repeat_for(s, n_atoms or 6000), {"th": th}, slab=NUCLEUS,
            inherent=True))
    return runs


#: T/Tm of each realistic sample (point defects at several temperatures)
REAL_SAMPLES: tuple[tuple[str, float], ...] = (
    ("slab-100", 0.5), ("slab-110", 0.5), ("slab-111", 0.5), ("slab-0001", 0.5), ("slab-10-10", 0.5),
    ("particle", 0.4), ("vacancies", 0.3), ("vacancies", 0.9), ("interstitials", 0.6),
    ("frenkel", 0.6), ("edge", 0.3), ("screw", 0.3), ("fault", 0.3), ("twin", 0.3),
    ("bicrystal", 0.5), ("polycrystal", 0.5), ("superheated", 1.2),
)
REAL_ATOMS = 3000


def real_runs(systems: list[System], schedule: Schedule, n_atoms: int | None, seed: int,
              temps: tuple[float, ...] | None = None) -> list[Run]:
    """Realistic samples (free surfaces, point defects, dislocations, faults, boundaries,
    superheating) of every system whose lattice the sample is made for: relaxed, held at
    T = Th * Tm for the equilibration time, one snapshot whose per-atom truth is the inherent
    structure's (see :mod:`structid.md.truth`). ``temps`` replaces each sample's Th."""
    from structid.md.samples import BUILDERS

    runs = []
    for system in systems:
        for sample, th in REAL_SAMPLES:
            if system.lattice not in BUILDERS[sample][0]:
                continue
            for t_h in temps or (th,):
                t = t_h * system.tm
                name = f"{sample}-th{t_h:.2f}"
                runs.append(Run("real", system, name, (
                    Stage(t, t, schedule.equilibrate, 1, lambda _: "per-atom"),
                ), run_seed(seed, "real", system.name, name), system.repeat,
                    {"th": t_h, "sample": sample, "n_atoms": n_atoms or REAL_ATOMS}, sample=sample))
    return runs


RECIPES: dict[str, str] = {
    "dc3": "DC3 protocol: crystals at Th = T/Tm in {0.25, 0.5, 0.75, 1.0} and liquids "
           f"({', '.join(SYSTEMS)})",
    "cu60": "Cu fcc/bcc/hcp at 60 GPa and 1.1 Tm, liquid at 1.0 Tm (Mishin EAM)",
    "ramp": "heating ramp from 0.1 Tm to 1.3 Tm (any DC3 system)",
    "quench": f"melt and quench to a glass ({', '.join(GLASS)})",
    "cycle": f"heat through melting and quench to a glass, snapshots all the way ({', '.join(GLASS)})",
    "interface": "crystal/amorphous slab interfaces, crystal tethered at 0.5 Tm, slab at 1.5 Tm "
                 "(any DC3 system; default al, fe, mg, si, nacl)",
    "nucleus": "a free crystal nucleus (a ball of ~11 % of the atoms) in its liquid at 0.8 Tm "
               "(any DC3 system; default al, fe, mg)",
    "extension": "a crystal no shipped model knows, at Th = 0.1, 0.25, 0.5 (graphite, AIREBO)",
    "foreign": "crystals outside the label vocabulary, at Th = 0.1, 0.25, 0.5: SiO2 beta-cristobalite "
               "(Tersoff), A15 W (EAM); the unknown-crystals benchmark",
    "real": "realistic samples with inherent-structure truth: slabs, nanoparticles, point "
            "defects, dislocations, faults, twins, bicrystals, polycrystals, superheating "
            f"({', '.join(REAL)})",
}


def plan(recipe: str, systems: list[str] | None = None, temps: tuple[float, ...] | None = None,
         n_atoms: int | None = None, quick: bool = False, seed: int = 0) -> list[Run]:
    """The runs of a recipe (nothing is run). A seed other than 0 names its runs ``NAME-seedS``,
    so that runs of several seeds sit side by side."""
    runs = _plan(recipe, systems, temps, n_atoms, quick, seed)
    if seed:
        runs = [replace(run, name=f"{run.name}-seed{seed}") for run in runs]
    return runs


def _plan(recipe: str, systems: list[str] | None = None, temps: tuple[float, ...] | None = None,
          n_atoms: int | None = None, quick: bool = False, seed: int = 0) -> list[Run]:
    from structid.md.systems import get_system

    schedule = QUICK if quick else Schedule()
    if n_atoms is not None and n_atoms < 1:
        raise InputError(f"--size must be a positive number of atoms, got {n_atoms}")
    if temps is not None and (not temps or not all(np.isfinite(t) and t > 0 for t in temps)):
        raise InputError(f"--temps must be positive T/Tm values, got {','.join(map(str, temps)) or 'none'}")
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
        if temps is not None and len(temps) != 2:
            raise InputError(f"--temps for ramp is START,STOP (two T/Tm values), got {len(temps)} value(s)")
        lo, hi = temps if temps else (0.1, 1.3)
        return ramp_runs(chosen, lo, hi, 2.0 if quick else 40.0, 4 if quick else 40, n_atoms, seed)
    if recipe == "quench":
        chosen = [get_system(n, GLASS) for n in systems] if systems else list(GLASS.values())
        return quench_runs(chosen, schedule, (0.5,) if quick else QUENCH_TIMES, 2 if quick else 10, n_atoms, seed)
    if recipe == "cycle":
        chosen = [get_system(n, GLASS) for n in systems] if systems else [GLASS["ni"], GLASS["cuzr"]]
        return cycle_runs(chosen, 1.0 if quick else 40.0, 1.0 if quick else 60.0, 2 if quick else 60, n_atoms, seed)
    if recipe == "interface":
        names = systems or ["al", "fe", "mg", "si", "nacl"]
        return interface_runs([get_system(n, SYSTEMS) for n in names], schedule, n_atoms, seed)
    if recipe == "nucleus":
        names = systems or ["al", "fe", "mg"]
        return nucleus_runs([get_system(n, SYSTEMS) for n in names], schedule, n_atoms, seed)
    if recipe == "extension":
        chosen = [get_system(n, EXTENSION) for n in systems] if systems else list(EXTENSION.values())
        return dc3_runs(chosen, temps or (0.1, 0.25, 0.5), (), schedule, n_atoms, seed, recipe="extension")
    if recipe == "foreign":
        chosen = [get_system(n, FOREIGN) for n in systems] if systems else list(FOREIGN.values())
        return dc3_runs(chosen, temps or (0.1, 0.25, 0.5), (), schedule, n_atoms, seed, recipe="foreign")
    if recipe == "real":
        chosen = [get_system(n, REAL) for n in systems] if systems else list(REAL.values())
        return real_runs(chosen, QUICK if quick else Schedule(equilibrate=4.0), n_atoms, seed, temps)
    raise InputError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPES)}")


def distance_to_slab_faces(frame: Frame, slab: Slab) -> np.ndarray:
    """(n,) distance (Å, along z, periodic) of every atom to the nearest face of the slab."""
    lz = frame.cell[2, 2]
    z = (frame.positions[:, 2] - frame.origin[2]) % lz
    gap = np.minimum(np.abs(z - slab.lo * lz), np.abs(z - slab.hi * lz))
    return np.minimum(gap, lz - gap)



def initial_frame(run: Run) -> Frame:
    """The perfect starting crystal (random species for alloys, fixed by the run's seed), or
    the run's realistic sample."""
    system = run.system
    if run.sample is not None:
        from structid.md.samples import build

        return build(run.sample, system.lattice, system.nn_distance, run.meta["n_atoms"],
                     run.seed, system.species[0])
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
        in_slab = run.slab.melted(frame)
        drop = np.zeros(len(frame), dtype=bool)
        for name in np.unique(frame.species):
            candidates = np.flatnonzero(in_slab & (frame.species == name))
            drop[rng.choice(candidates, int(round(run.slab.thinning * len(candidates))), replace=False)] = True
        frame = frame.select(~drop).replace(ids=np.arange(1, int((~drop).sum()) + 1))
    return frame
