"""Score-based denoiser (Hsu et al.): an E(3)-equivariant network trained on ideal lattices only.

The network Δθ(r) gives one displacement per atom; denoising repeats ``r ← r − Δθ(r)``
(Algorithm 1). Training draws an ideal lattice, σ ~ U(0, σmax), ε ~ N(0, I) and minimises
``‖σε − Δθ(r + σε)‖²`` (Algorithm 2). The network: :mod:`structid.models.denoiser_network`.

Lengths are in units of the structure's first-shell distance ``d`` (``nn_distance(frame, 4)``:
the median over atoms of the mean distance to the 4 nearest neighbours), estimated from the
input itself in training and inference alike, so that one model serves every element.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from structid import runtime
from structid.errors import InputError
from structid.frame import Frame, as_frame
from structid.io.writers import AtomicFile
from structid.lattices import LATTICES, lattice
from structid.models.base import Estimator
from structid.models.denoiser_kernels import edges_within, nearest_distances
from structid.models.denoiser_network import CUTOFF, build_network
from structid.neighbors import (CONDENSED_DISTANCE, NeighborList, Neighbors, median_of_means, nearest_neighbors,
                                neighbor_list, nn_distance, pair_list, refuse_coincident, resolve)
from structid.tiles import Tiling, density_length

#: Lindemann-like largest training noise, in first-shell distances
SIGMA_MAX = 0.13
#: neighbours whose mean distance is the first-shell distance d
SHELL = 4
#: the first-shell estimate is capped at this multiple of the median nearest-neighbour
#: distance: atoms without 4 neighbours nearby (a few atoms in a huge box, sparse data) would
#: otherwise set a scale of the box's size
SCALE_CAP = 1.5
#: largest move of one atom in one step, and in all steps together, in first-shell distances
#: (of the input): above what thermal noise needs (sigma_max per coordinate), so only an input
#: unlike any lattice is held back, and no atom ends far from where it was
MAX_STEP, MAX_TOTAL = 0.5, 1.0


@dataclass
class DenoiseResult:
    """The denoised frame, and (optionally) every iteration's positions."""

    frame: Frame
    iterations: int
    max_step: list[float]  # largest displacement of each iteration, Å
    trajectory: list[Frame] | None = None


class Denoiser(Estimator):
    """Score-based denoiser.

    Args:
        lattices: the ideal lattices it learns (names of :data:`structid.lattices.LATTICES`).
        species: element names the model distinguishes (one embedding each); None: one
            embedding for every atom (element-agnostic, the metals and DC3 models).
        features, layers, n_rbf: network size (scalar and vector channels, message-passing
            layers, radial functions).
        steps: optimisation steps; 0 gives the untrained network (random weights).
        batch: noisy cells per step.
        learning_rate: AdamW step size (cosine decay to 5 %).
        sigma_max: largest training noise, in first-shell distances.
        seed: random seed of initialisation and training.
        open_cells: also train on open cells of each lattice (a slab with vacuum along the
            last cell vector, and spherical clusters cut around a random point), so that free
            surfaces are a fixed point rather than pulled inward.
        vacancy_max: each training cell loses a random share, up to this, of its atoms
            (vacancies), so that the neighbours of an empty site stay where the lattice has them.
    """

    name = "denoiser"
    kind = "denoiser"
    version = 2
    learned = "net_"

    def __init__(self, lattices: Sequence[str] = ("fcc", "bcc", "hcp"), species: Sequence[str] | None = None,
                 features: int = 32, layers: int = 3, n_rbf: int = 8, steps: int = 3000, batch: int = 4,
                 learning_rate: float = 2e-3, sigma_max: float = SIGMA_MAX, seed: int = 0,
                 open_cells: bool = False, vacancy_max: float = 0.0) -> None:
        self.lattices = tuple(lattices)
        self.species = tuple(species) if species else None
        self.features, self.layers, self.n_rbf = features, layers, n_rbf
        self.steps, self.batch, self.learning_rate, self.sigma_max = steps, batch, learning_rate, sigma_max
        self.seed = seed
        self.open_cells, self.vacancy_max = open_cells, vacancy_max

    @property
    def n_parameters(self) -> int:
        """Weights of the network these settings build (fitted or not)."""
        net = self.net_ if self.is_fitted() else self._build()
        return sum(p.numel() for p in net.parameters())

    def _build(self):
        import torch

        # a private random stream: the initial weights depend on the seed alone, and torch's
        # global generator stays as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build_network(len(self.species) if self.species else 1, self.features, self.layers, self.n_rbf)

    def _species_index(self, frame: Frame) -> np.ndarray:
        if self.species is None:
            return np.zeros(len(frame), dtype=np.int64)
        names, inverse = np.unique(frame.species, return_inverse=True)
        unknown = sorted(set(names) - set(self.species))
        if unknown:
            raise InputError(f"{frame.info.get('source', 'frame')}: species {', '.join(unknown)} "
                             f"not known to this denoiser (trained for {', '.join(self.species)})")
        return np.array([self.species.index(n) for n in names], dtype=np.int64)[inverse]

    # -- inference (Algorithm 1) ----------------------------------------------------------

    def displacements(self, frame: Frame, scale: float | None = None) -> np.ndarray:
        """(n, 3) Δθ(r) in Å (one network evaluation)."""
        self.check_fitted()
        frame = as_frame(frame)
        d = scale or first_shell_distance(frame)
        return _Graph(frame).step(self, frame.positions, d) * d

    def denoise(self, frame: Frame, iterations: int = 8, tolerance: float = 1e-3,
                scale: float | None = None, save_trajectory: bool = False,
                edge_chunk: int = 16_384, neighbors: Neighbors = None,
                max_atoms: int | None = None) -> DenoiseResult:
        """Apply ``r ← r − Δθ(r)`` up to ``iterations`` times, stopping early when the largest
        step is below ``tolerance`` first-shell distances. Edges are processed ``edge_chunk``
        at a time: memory stays bounded, and chunks that fit in the CPU cache run faster than
        one pass over all edges (docs/benchmarks.md).

        ``scale``: a fixed first-shell distance in Å. By default it is estimated again from the
        current positions before every iteration, as training estimates it from each noisy
        cell: the estimate of a noisy frame is short, and keeping it while the noise goes away
        shows the model a stretched lattice it never saw (bcc then drifts away).
        ``neighbors``: a list of ``frame`` (or a query) that the first iteration uses when it
        reaches far enough. A frame whose first-shell distance exceeds
        :data:`~structid.neighbors.CONDENSED_DISTANCE` (a gas) is returned unchanged.
        ``max_atoms``: a larger frame is denoised a spatial tile of about this many atoms at a
        time (:meth:`denoise_tiled`), with the same result."""
        self.check_fitted()
        frame = as_frame(frame)
        if iterations < 0:
            raise InputError(f"iterations must be >= 0, got {iterations}")
        if not tolerance >= 0:  # also refuses NaN
            raise InputError(f"the tolerance must be a number >= 0, got {tolerance}")
        if scale is not None and not scale > 0:
            raise InputError(f"first-shell distance must be positive, got {scale}")
        refuse_coincident(frame)
        if max_atoms is not None and len(frame) > max_atoms and not save_trajectory:
            tiled = self.denoise_tiled(frame, max_atoms, iterations, tolerance, scale, edge_chunk)
            if tiled is not None:
                return tiled
        given = resolve(frame, neighbors)
        d = float(scale) if scale else first_shell_distance(frame, given)
        if d > CONDENSED_DISTANCE and not scale:
            # a gas: no lattice to return atoms to; moving them by the frame's own unit would
            # throw them by that much
            iterations = 0
        reach = MAX_TOTAL * d
        positions = frame.positions.copy()
        graph = _Graph(frame, initial=given)
        trajectory = [frame] if save_trajectory else None
        steps: list[float] = []
        for k in range(iterations):
            graph.refresh(positions, d)
            if k and not scale:
                d = graph.first_shell_distance(positions) or first_shell_distance(frame.replace(positions=positions))
                d = min(d, SCALE_CAP * reach / MAX_TOTAL)  # an expanding input must not grow its unit
                graph.refresh(positions, d)
            delta = _capped(graph.step(self, positions, d, edge_chunk) * d, MAX_STEP * d)
            positions = frame.positions + _capped(positions - delta - frame.positions, reach)
            steps.append(float(np.sqrt((delta ** 2).sum(axis=1)).max()) if len(delta) else 0.0)
            if trajectory is not None:
                trajectory.append(frame.replace(positions=positions.copy()).wrapped())
            if steps[-1] < tolerance * d:
                break
        out = frame.replace(positions=positions).wrapped()
        return DenoiseResult(out, len(steps), steps, trajectory)

    def denoise_tiled(self, frame: Frame, max_atoms: int, iterations: int = 8, tolerance: float = 1e-3,
                      scale: float | None = None, edge_chunk: int = 16_384) -> DenoiseResult | None:
        """:meth:`denoise` a spatial tile of about ``max_atoms`` atoms at a time (peak memory that
        of a tile), each step over all tiles before the next (halo: the network's layers x its
        cutoff at that step's positions), with the first-shell distance over all atoms: the
        whole run's positions, to float32 rounding. None when the frame is too sparse for tiles
        (an atom's 4 nearest neighbours beyond the planned halo): denoise it whole."""
        self.check_fitted()
        frame = as_frame(frame)
        reach_per_step = self.layers * CUTOFF * (1 + 1e-6)
        d_guess = float(scale) if scale else 1.2 * density_length(frame)
        tiling = Tiling(frame, max_atoms, reach_per_step * d_guess)
        positions = frame.positions.copy()

        def shells(halo: float, rebuild: Callable[[Frame], np.ndarray], within: bool) -> float | None:
            # the first-shell distance, a tile at a time; ``within``: ``rebuild`` lists pairs
            # within the halo only (inf where fewer than 4, as whole), else None when some 4th
            # neighbour lies beyond the halo (its tile may lack a nearer one)
            out = np.empty((len(frame), SHELL))
            for tile in tiling.tiles(positions, halo):
                out[tile.owned] = rebuild(tile.frame(frame, positions))[: tile.n_owned]
            if not within and not (np.isfinite(out).all() and out[:, -1].max(initial=0.0) < halo):
                return None
            d = min(median_of_means(out), SCALE_CAP * float(np.median(out[:, 0])))
            return d if np.isfinite(d) else None

        def searched() -> float | None:
            return shells(tiling.halo, lambda sub: nearest_neighbors(sub, SHELL).distances, within=False)

        d = float(scale) if scale else searched()
        if d is None:
            return None
        iterations = 0 if d > CONDENSED_DISTANCE and not scale else iterations
        reach = MAX_TOTAL * d
        steps: list[float] = []
        for k in range(iterations):
            if k and not scale:
                # as :meth:`denoise`: the 4 nearest among the pairs of a list (cutoff + skin) d long
                radius = (CUTOFF + _Graph.SKIN) * d

                def listed(sub: Frame) -> np.ndarray:
                    j, shifts, offsets = pair_list(sub, radius)
                    return nearest_distances(sub.positions, sub.cell, offsets, j, shifts, SHELL)

                # as the whole frame: a full search when half of the atoms lack 4 listed neighbours
                d = shells(radius, listed, within=True) or searched()
                if d is None:
                    return None
                d = min(d, SCALE_CAP * reach / MAX_TOTAL)
            delta = np.empty_like(positions)
            for tile in tiling.tiles(positions, reach_per_step * d):
                sub = tile.frame(frame, positions)
                delta[tile.owned] = _Graph(sub).step(self, sub.positions, d, edge_chunk)[: tile.n_owned]
            delta = _capped(delta * d, MAX_STEP * d)
            positions = frame.positions + _capped(positions - delta - frame.positions, reach)
            steps.append(float(np.sqrt((delta ** 2).sum(axis=1)).max()) if len(delta) else 0.0)
            if steps[-1] < tolerance * d:
                break
        return DenoiseResult(frame.replace(positions=positions).wrapped(), len(steps), steps)

    # -- training (Algorithm 2) -----------------------------------------------------------

    def fit(self, checkpoint: str | Path | None = None, checkpoint_every: int = 200,
            progress: Callable[[dict], None] | None = None) -> Denoiser:
        """Train on the ideal periodic ``lattices`` with Gaussian noise σ ~ U(0, ``sigma_max``)
        first-shell distances; AdamW with cosine decay. With ``checkpoint``, the state is saved
        every ``checkpoint_every`` steps and an existing checkpoint is resumed."""
        import torch

        for name in self.lattices:
            if name not in LATTICES:
                raise InputError(f"unknown lattice {name!r}; known: {', '.join(LATTICES)}")
        if self.steps < 0 or self.batch < 1 or not 0 < self.sigma_max < 0.5 or not 0 <= self.vacancy_max < 0.5:
            raise InputError("steps must be >= 0, batch >= 1, sigma_max in (0, 0.5) and vacancy_max in [0, 0.5)")
        net = self._build()
        steps = self.steps
        optimizer = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=1e-5)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(k / max(steps, 1), 1.0))))
        rng = np.random.default_rng(self.seed)
        first, losses, spent = 0, [], 0.0
        checkpoint = Path(checkpoint) if checkpoint else None
        if checkpoint and checkpoint.exists():
            state = torch.load(checkpoint, weights_only=True)
            net.load_state_dict(state["net"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            rng.bit_generator.state = state["rng"]
            first, losses = state["step"], state["losses"]
            spent = state.get("seconds", 0.0)
        cells = _training_cells(self.lattices, self.species, self.open_cells, rng)
        start = time.perf_counter()
        net.train()
        for step in range(first, steps):
            species, i, j, vectors, target = _training_batch(cells, self.batch, self.sigma_max, rng, self,
                                                             self.vacancy_max)
            prediction = net(species, i, j, vectors)
            loss = ((prediction - target) ** 2).sum(dim=-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if checkpoint and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                _save_atomic(checkpoint, {"net": net.state_dict(), "optimizer": optimizer.state_dict(),
                                          "schedule": schedule.state_dict(), "rng": rng.bit_generator.state,
                                          "step": step + 1, "losses": losses,
                                          "seconds": spent + time.perf_counter() - start})
            if progress:
                progress({"step": step + 1, "loss": float(np.mean(losses[-50:]))})
        self.net_ = net.eval()
        self.history_ = {"seconds": spent + time.perf_counter() - start,
                         "final_loss": float(np.mean(losses[-100:])) if losses else None,
                         "threads": torch.get_num_threads()}
        self.metadata_ = {}
        return self

    # -- files ----------------------------------------------------------------------------

    def _get_state(self) -> dict:
        return {"network": self.net_.state_dict()}

    def _set_state(self, state: dict) -> None:
        net = self._build()
        net.load_state_dict(state["network"])
        self.net_ = net.eval()

    @classmethod
    def _upgrade(cls, payload: Any) -> Any:
        # version 1 files (format "structid-denoiser") kept the training settings in the history
        if isinstance(payload, dict) and payload.get("format") == "structid-denoiser" and payload.get("version") == 1:
            h = dict(payload.get("history", {}))
            params = {"species": payload["species"], "features": payload["features"],
                      "layers": payload["layers"], "n_rbf": payload["n_rbf"], "seed": payload["seed"]}
            for old, new in (("lattices", "lattices"), ("steps", "steps"), ("batch", "batch"),
                             ("lr", "learning_rate"), ("sigma_max", "sigma_max")):
                if old in h:
                    params[new] = h.pop(old)
            return {"format": "structid-model", "kind": cls.kind, "version": cls.version,
                    "params": params, "state": {"network": payload["state"]}, "history": h,
                    "metadata": payload.get("metadata", {})}
        return payload


def _capped(vectors: np.ndarray, length: float) -> np.ndarray:
    """(n, 3) ``vectors`` shortened to at most ``length``."""
    norms = np.sqrt((vectors ** 2).sum(axis=1))
    far = norms > length
    if far.any():
        vectors = vectors.copy()
        vectors[far] *= (length / norms[far])[:, None]
    return vectors


def first_shell_distance(frame: Frame, neighbors: Neighbors = None) -> float:
    """The length unit of the denoiser, Å: :func:`~structid.neighbors.nn_distance` over the 4
    nearest neighbours, capped at :data:`SCALE_CAP` times the median nearest-neighbour
    distance."""
    where = frame.info.get("source", "frame")
    if len(frame) == 0:
        raise InputError(f"{where}: the frame has no atoms")
    if len(frame) < 2:
        raise InputError(f"{where}: 1 atom; a denoiser needs neighbours")
    k = min(SHELL, len(frame) - 1) if not frame.pbc.any() else SHELL
    distances = nearest_neighbors(frame, k, neighbors=resolve(frame, neighbors)).distances
    return min(median_of_means(distances), SCALE_CAP * float(np.median(distances[:, 0])))


class _Graph:
    """A neighbour list at (cutoff + skin) d, reused across denoising iterations and rebuilt
    only when it may miss a pair within the cutoff at the current positions and scale.

    It keeps only what a step needs, compactly (int32 neighbour indices and image shifts, 16
    bytes per pair, grouped by atom), and compiled kernels turn it into the edges within the
    cutoff in one pass: peak memory grows with the frame by the list and the kept edges, not by
    float64 temporaries of every pair."""

    SKIN = 0.3  # first-shell distances

    def __init__(self, frame: Frame, skin: float = SKIN, initial: NeighborList | None = None) -> None:
        self.frame, self.skin, self.initial = frame, skin, initial
        self.built_at: np.ndarray | None = None
        self.radius = 0.0  # Å, of the current list

    def refresh(self, positions: np.ndarray, d: float) -> None:
        if self.built_at is not None:
            moved = np.sqrt(((positions - self.built_at) ** 2).sum(axis=1)).max() if len(positions) else 0.0
            # a pair's distance changes by at most twice the largest move
            if CUTOFF * d + 2.0 * moved < self.radius:
                return
        self.radius = (CUTOFF + self.skin) * d
        self.j = self.shifts = None  # let the old list go before the new one is built
        # pairs are sorted by atom: atom a's are offsets[a]:offsets[a + 1]
        if self.initial is not None and self.initial.cutoff >= self.radius:
            nl = resolve(self.frame, self.initial, r_max=self.radius)  # positions are the frame's
            # the lists are int32 already: no copies
            self.j, self.shifts = np.asarray(nl.j, dtype=np.int32), np.asarray(nl.shifts, dtype=np.int32)
            self.offsets = np.asarray(nl.offsets)
        else:
            self.j, self.shifts, self.offsets = pair_list(self.frame.replace(positions=positions), self.radius)
        self.initial = None
        self.built_at = positions.copy()

    def first_shell_distance(self, positions: np.ndarray) -> float | None:
        """The first-shell distance (Å, the :func:`~structid.neighbors.nn_distance` statistic)
        from the list's edges at ``positions``, or None when half of the atoms or more have
        fewer than 4 neighbours in it."""
        shell = nearest_distances(positions, self.frame.cell, self.offsets, self.j, self.shifts, SHELL)
        d = min(median_of_means(shell), SCALE_CAP * float(np.median(shell[:, 0])))
        return d if np.isfinite(d) else None

    def step(self, model: Denoiser, positions: np.ndarray, d: float,
             edge_chunk: int = 16_384) -> np.ndarray:
        """Δθ in units of the first-shell distance ``d`` (Å)."""
        torch = runtime.torch_ready()
        where = runtime.device()
        self.refresh(positions, d)
        i, j, vectors, offsets = edges_within(positions, self.frame.cell, self.offsets, self.j, self.shifts, d, CUTOFF)
        inputs = (model._species_index(self.frame), i, j, vectors)
        net = model.net_ if where == "cpu" else model.net_.to(where)
        with torch.no_grad():
            out = net(*(torch.from_numpy(a).to(where) for a in inputs), edge_chunk, offsets=offsets)
        out = out.cpu().numpy().astype(np.float64)
        # a configuration far from every lattice can overflow the activations: those atoms stay
        out[~np.isfinite(out).all(axis=1)] = 0.0
        return out


def _training_cells(lattices: Sequence[str], species: tuple[str, ...] | None, open_cells: bool = False,
                    rng: np.random.Generator | None = None) -> list[Frame]:
    """Ideal periodic cells (first-shell distance 1) of every lattice, in a few sizes; with
    ``open_cells`` also a slab and clusters of each (see :class:`Denoiser`)."""
    cells = []
    for name in lattices:
        spec = LATTICES[name]
        per_cell = len(spec.basis)
        n_sub = len(spec.species)
        if species is not None and len(species) < n_sub:
            raise InputError(f"lattice {name} has {n_sub} sublattices but the denoiser knows "
                             f"{len(species)} species ({', '.join(species)})")
        for n_atoms in (150, 300):
            n = max(2, round((n_atoms / per_cell) ** (1 / 3)))
            # the model's species fill the sublattices in order (rocksalt with (Na, Cl): Na, Cl)
            frame = lattice(name, 1.0, (n, n, n), species=species[:n_sub] if species else None)
            if species is None:
                frame = frame.replace(species=np.full(len(frame), "X"))
            cells.append(frame)
        if open_cells:
            cells += _open_cells(cells[-1], 4, rng if rng is not None else np.random.default_rng(0))
    return cells


#: vacuum of the training slabs, in first-shell distances (more than the cutoff)
_SLAB_VACUUM = 3.0


def _open_cells(bulk: Frame, clusters: int, rng: np.random.Generator) -> list[Frame]:
    """A slab of ``bulk`` (vacuum along its last cell vector) and ``clusters`` non-periodic
    spheres of 60-400 atoms cut from it around random points: every facet and step of the
    lattice, in first-shell distance units."""
    cell = bulk.cell.copy()
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    cell[2] += normal * _SLAB_VACUUM
    out = [bulk.replace(cell=cell)]
    density = len(bulk) / bulk.volume
    block = bulk.replace(positions=bulk.positions, cell=bulk.cell)
    for _ in range(clusters):
        n_atoms = rng.uniform(60, min(400, 0.8 * len(bulk)))
        radius = (3 * n_atoms / (4 * np.pi * density)) ** (1 / 3)
        centre = bulk.cell.sum(axis=0) / 2 + rng.uniform(-0.5, 0.5, 3)
        delta = block.positions - centre
        delta -= np.round(delta @ np.linalg.inv(bulk.cell)) @ bulk.cell  # nearest periodic image
        keep = np.linalg.norm(delta, axis=1) <= radius
        out.append(Frame(positions=delta[keep], cell=np.zeros((3, 3)), pbc=False,
                         species=bulk.species[keep]))
    # the first-shell estimate of a small open cell is long (surface atoms lack neighbours);
    # training divides it out so that lengths are those of a large sample, as in inference
    return [c.replace(info={"d_bias": nn_distance(c, SHELL)}) for c in out]


def _training_batch(cells: list[Frame], batch: int, sigma_max: float, rng: np.random.Generator,
                    model: Denoiser, vacancy_max: float = 0.0):
    """One batch of noisy cells: species, edges, bond vectors and targets σε in units of the
    first-shell distance estimated from the noisy cell, as in inference."""
    import torch

    parts, offset = [], 0
    for _ in range(batch):
        cell = cells[rng.integers(len(cells))]
        if vacancy_max > 0:
            cell = cell.select(rng.random(len(cell)) >= rng.uniform(0.0, vacancy_max))
        sigma = rng.uniform(0.0, sigma_max)
        noise = sigma * rng.normal(size=cell.positions.shape)
        noisy = cell.replace(positions=cell.positions + noise)
        d = nn_distance(noisy, SHELL) / cell.info.get("d_bias", 1.0)
        nl = neighbor_list(noisy, CUTOFF * d)
        parts.append((model._species_index(cell),
                      nl.i + offset, nl.j + offset, nl.vectors / d, noise / d))
        offset += len(cell)
    species, i, j, vectors, target = (np.concatenate(p) for p in zip(*parts))
    return (torch.from_numpy(species), torch.from_numpy(i), torch.from_numpy(j),
            torch.from_numpy(vectors.astype(np.float32)), torch.from_numpy(target.astype(np.float32)))


def _save_atomic(path: Path, state: dict) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    with AtomicFile(path, force=True) as out:
        out.write(buffer.getvalue())
