"""``structid info``, ``methods``, ``example`` and ``nmap``: look at files, methods and maps."""

from __future__ import annotations

from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from structid.cli.common import FormatOpt, TypesOpt, channel_weights, out, types_option
from structid.descriptors.neighbors_map import NeighborsMap
from structid.errors import InputError
from structid.io.readers import open_trajectory, read_frame
from structid.io.writers import AtomicFile, TrajectoryWriter
from structid.lattices import gaussian_noise
from structid.plots import render_maps
from structid.polycrystal import polycrystal
from structid.registry import available


def info(
    file: Annotated[str, typer.Argument(help="structure file or trajectory")],
    format: FormatOpt = None,
    types: TypesOpt = None,
) -> None:
    """Frames, atoms, species, cell and columns of a structure file."""
    traj = open_trajectory(file, format=format, types=types_option(types))
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


def methods() -> None:
    """List the structure-identification methods."""
    table = Table("method", "description")
    for name, description in available().items():
        table.add_row(name, description)
    out.print(table)


def example(
    name: Annotated[str, typer.Argument(help="grains: fcc, hcp and bcc grains heated in four frames")] = "grains",
    output: Annotated[str, typer.Option("--output", "-o", help="where to write it (.lammpstrj or .extxyz)")] = "examples/grains.lammpstrj",
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    force: Annotated[bool, typer.Option("--force", help="replace an existing file")] = False,
) -> None:
    """Generate the bundled example: a polycrystal with growing thermal noise."""
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
    frame = read_frame(file, frame_index, format=format, types=types_option(types))
    try:
        chosen = np.array([int(a) for a in atoms.split(",") if a.strip()])
    except ValueError:
        raise InputError(f"--atoms: expected comma-separated integers, got {atoms!r}") from None
    if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= len(frame):
        raise InputError(f"--atoms: indices must be between 0 and {len(frame) - 1}")
    target = AtomicFile(output, force=force, protect=(file,))
    try:
        descriptor = NeighborsMap(size=size, channel_weights=channel_weights(channels))
        maps = descriptor.compute(frame, atoms=chosen)
        captions = [f"atom {a} ({frame.species[a]})" for a in chosen]
        target.write(render_maps(maps, captions))
        target.commit()
    except BaseException:
        target.abort()
        raise
    out.print(f"{len(chosen)} map(s) written to {output}", highlight=False)
