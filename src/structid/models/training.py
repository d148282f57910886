"""Training sets from labelled MD data: which frames, which atoms, which augmentations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.errors import InputError
from structid.frame import Frame
from structid.io.readers import open_trajectory
from structid.lattices import gaussian_noise, remove_atoms


@dataclass(frozen=True)
class LabelledFrame:
    """A frame whose atoms carry ``label`` (one name, or one per atom), and where it came from."""

    frame: Frame
    label: str | np.ndarray
    source: str  # "<recipe>/<system>/<run>#<frame index>"
    th: float | None = None  # the run's T / Tm, where the recipe sets one

    def names(self) -> np.ndarray:
        """(n_atoms,) structure name of every atom."""
        return np.full(len(self.frame), self.label) if isinstance(self.label, str) else self.label


def md_frames(root: Path, recipe: str, systems: list[str] | None, labels: set[str] | None,
              frame_indices: tuple[int, ...] | None = None) -> Iterator[LabelledFrame]:
    """Labelled frames of finished MD runs (see ``structid md run``); ``frame_indices`` picks
    frames of each run (e.g. (0, 1, 2) for training, (3,) held out). Runs labelled per atom
    (interfaces) give the names of the dump's ``structure_id`` column; ``labels`` filters whole
    frames by their one label and leaves per-atom frames whole."""
    from structid.labels import VOCABULARY

    folder = root / "md" / recipe
    found = False
    for meta_path in sorted(folder.glob("*/*.json")):
        meta = json.loads(meta_path.read_text())
        if systems and meta["system"] not in systems:
            continue
        dump = meta_path.with_suffix(".lammpstrj.gz")
        if not dump.exists():
            continue
        for k, (frame, info) in enumerate(zip(open_trajectory(dump), meta["frames"])):
            label = info["label"]
            if label == "per-atom":
                label = np.asarray(VOCABULARY)[frame.properties["structure_id"]]
            elif label is None or (labels and label not in labels):
                continue
            if frame_indices is not None and k not in frame_indices:
                continue
            found = True
            yield LabelledFrame(frame, label, f"{recipe}/{meta['system']}/{meta['run']}#{k}", meta.get("th"))
    if not found:
        raise InputError(f"no labelled frames under {folder} for systems {systems or 'all'}; "
                         f"run `structid md run {recipe}` first")


def augmented(frame: Frame, rng: np.random.Generator, missing: float = 0.0,
              noise_fraction: float = 0.0, noise_sigma: float = 0.0) -> Frame:
    """A copy with a ``missing`` share of atoms removed and Gaussian noise of ``noise_sigma``
    (in nearest-neighbour distances) on a ``noise_fraction`` share of the rest."""
    out = remove_atoms(frame, missing, rng) if missing > 0 else frame
    if noise_fraction > 0 and noise_sigma > 0:
        from structid.descriptors.neighbors_map import typical_nn_distance

        noisy = gaussian_noise(out, noise_sigma * typical_nn_distance(out), rng)
        pick = rng.random(len(out)) < noise_fraction
        out = out.replace(positions=np.where(pick[:, None], noisy.positions, out.positions))
    return out
