"""The data, training and model card of the shipped NM-CNN models (``nmcnn-metals``).

    python -m structid.training.build nmcnn-metals [--seed 0] [--epochs 25] ...

trains on the DC3-protocol MD of ``structid md run dc3`` (which must exist), measures the
missing-atoms accuracy on held-out frames and writes the model file and its card
``<name>.md`` into :mod:`structid.pretrained`.
"""

from __future__ import annotations

import itertools
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.bench.missing import from_records, markdown, missing_atoms_accuracy, to_records
from structid.bench.protocol import HELD_OUT_FRAMES, MISSING_SHARES, TRAIN_FRAMES
from structid.descriptors.neighbors_map import NeighborsMap
from structid.errors import InputError
from structid.lattices import lattice
from structid.md.store import labelled_frames
from structid.pretrained import FOLDER
from structid.training.cards import confusion_markdown, known_limits
from structid.training.datasets import sample_maps

#: training materials; zr (hcp) and li (bcc) stay out entirely, to test unseen materials
NMCNN_SYSTEMS = ["al", "ar", "fe", "mg", "ti", "si", "ge"]
NMCNN_CLASSES = {"fcc", "bcc", "hcp", "cd", "liquid"}
#: Gaussian noise (nearest-neighbour distances, per coordinate) of the ideal training lattices
IDEAL_NOISE = (0.0, 0.01, 0.02)


#: glass formers whose quench runs (``structid md run quench``: the crystal before melting, the
#: liquid, the glass, at two cooling rates; windows checked by :mod:`structid.md.dynamics`) also
#: train the glass-aware variant; pd and the Cu-Zr alloy stay out, to test an unseen metal glass
GLASS_SYSTEMS = ["ni", "cu", "al"]
#: atoms per (quench snapshot, missing share) of each label: glasses are few snapshots per run
GLASS_ATOMS = {"amorphous": 600, "liquid": 200}
QUENCH_CRYSTAL_ATOMS = 200


@dataclass(frozen=True)
class Variant:
    """A shipped NM-CNN: map size, network, and whether the quench data (amorphous) is in."""

    size: int = 32
    architecture: str = "pool-first-s2"
    glass: bool = False


#: shipped NM-CNN variants
VARIANTS = {"nmcnn-metals": Variant(), "nmcnn-metals-paper": Variant(architecture="paper"),
            "nmcnn-metals-glass": Variant(glass=True)}


def nmcnn_training_set(root: Path, seed: int, size: int = 32, atoms_per_map_set: int = 150,
                       melting_factor: int = 1, ideal_atoms: int = 0, hot_noise: float = 0.0,
                       glass: bool = False):
    """Maps and labels: training frames of each DC3 run, each with 0-50 % of atoms removed,
    ``atoms_per_map_set`` random atoms per (frame, fraction), ``melting_factor`` times as many
    for the runs at the melting point (hot crystal against liquid: the hardest pair); then
    ``ideal_atoms`` per (lattice, noise, fraction) from the ideal crystals with at most
    :data:`IDEAL_NOISE` (the MD never gets that cold); then, with ``hot_noise`` (nearest-neighbour
    distances), one more copy of each crystal frame at Tm with that Gaussian noise on half of
    its atoms, ``atoms_per_map_set`` atoms per fraction (crystals hotter than the MD reached);
    with ``glass``, the checked quench snapshots of :data:`GLASS_SYSTEMS`
    (:data:`GLASS_ATOMS` per snapshot and fraction; the window checks go to the sources)."""
    rng = np.random.default_rng(seed)
    descriptor = NeighborsMap(size=size, scale="auto")
    maps, labels = [], []

    def take(frame, label, wanted, rng, noise_fraction=0.0, noise=0.0, missing=0.0):
        got_maps, got_labels = sample_maps(descriptor, frame, np.full(len(frame), label), wanted, rng,
                                           missing, noise_fraction, noise)
        maps.extend(got_maps)
        labels.extend(got_labels)

    items = list(labelled_frames(root, "dc3", NMCNN_SYSTEMS, NMCNN_CLASSES, TRAIN_FRAMES))
    at_tm = [item.th is not None and item.th >= 1.0 for item in items]
    for item, hot in zip(items, at_tm):
        for fraction in MISSING_SHARES:
            take(item.frame, item.label, atoms_per_map_set * (melting_factor if hot else 1), rng,
                 missing=fraction)
    sources = [item.source for item in items]
    for name in sorted(NMCNN_CLASSES - {"liquid"}) if ideal_atoms else ():
        repeat = int(np.ceil((1000 / len(lattice(name, 1.0, 1))) ** (1 / 3)))
        ideal = lattice(name, 2.5, repeat)
        for noise, fraction in itertools.product(IDEAL_NOISE, MISSING_SHARES):
            take(ideal, name, ideal_atoms, rng, 1.0, noise, fraction)
        sources.append(f"lattice/{name}")
    # a stream of its own: the maps above stay exactly those of a build without the hot copy
    hot_rng = np.random.default_rng(seed + 7)
    for item, hot in zip(items, at_tm):
        if hot_noise > 0 and hot and item.label != "liquid":
            for fraction in MISSING_SHARES:
                take(item.frame, item.label, atoms_per_map_set, hot_rng, 0.5, hot_noise, fraction)
    if glass:
        from structid.md.dynamics import checked_frames

        glass_rng = np.random.default_rng(seed + 11)
        quench, checks = checked_frames(root, "quench", GLASS_SYSTEMS, NMCNN_CLASSES | {"amorphous"})
        for item in quench:
            for fraction in MISSING_SHARES:
                take(item.frame, item.label, GLASS_ATOMS.get(item.label, QUENCH_CRYSTAL_ATOMS), glass_rng,
                     missing=fraction)
        sources += [item.source for item in quench]
        sources += [window_record(c) for c in checks]
    return descriptor, np.concatenate(maps), np.concatenate(labels), sources


def window_record(check) -> dict:
    """A dynamics check as plain data for a model's metadata."""
    return {"window": check.source, "label": check.label, "frames": list(check.frames), "used": list(check.used),
            "setpoint_K": list(check.setpoint_K), "span_ps": check.span_ps, "mobile": check.mobile,
            "msd_d2": check.msd_d2, "crystalline": check.crystalline, "why": check.why}


def held_out_accuracy(model, root: Path, seed: int, methods=("acna", "ptm", "diamond")) -> list[dict]:
    """The missing-atoms table of ``model`` (as ``nmcnn``) and the registered baselines
    ``methods`` on the same held-out frames, as records."""
    from structid.registry import get_classifier

    classifiers = {"nmcnn": model} | {m: get_classifier(m) for m in methods}
    return to_records(missing_atoms_accuracy(classifiers, root, seed))


def build_nmcnn_metals(root: Path, seed: int = 0, epochs: int = 25, name: str = "nmcnn-metals",
                       atoms_per_set: int = 400, melting_factor: int = 3, ideal_atoms: int = 300,
                       hot_noise: float = 0.02) -> Path:
    from structid.models.nmcnn import NMCNN

    variant = VARIANTS[name]
    size, architecture = variant.size, variant.architecture
    start = time.perf_counter()
    descriptor, maps, labels, sources = nmcnn_training_set(root, seed, size, atoms_per_set, melting_factor,
                                                           ideal_atoms, hot_noise, variant.glass)
    built = time.perf_counter() - start
    model = NMCNN(descriptor, epochs=epochs, seed=seed, architecture=architecture)
    model.fit_descriptors(maps, labels, progress=lambda e: print(json.dumps(e), flush=True))
    accuracy = held_out_accuracy(model, root, seed)
    glass_accuracy = glass_markdown(model, root) if variant.glass else ""
    meta = {"name": name, "architecture": architecture, "map_size": size, "seed": seed, "epochs": epochs, "maps": int(len(maps)),
            "atoms_per_set": atoms_per_set, "melting_factor": melting_factor, "ideal_atoms": ideal_atoms,
            "hot_noise": hot_noise, "glass": variant.glass, "glass_accuracy": glass_accuracy,
            "sources": sources, "missing_fractions": list(MISSING_SHARES), "map_seconds": built,
            "held_out_accuracy": accuracy, "machine": platform.platform(),
            "torch_threads": __import__("torch").get_num_threads()}
    out = model.save(FOLDER / f"{name}.pt", metadata=meta)
    write_card(model, meta, FOLDER / f"{name}.md")
    return out


def glass_markdown(model, root: Path, systems: tuple[str, ...] | None = None) -> str:
    """``structid bench glass``'s table of ``model`` (as ``nmcnn``) next to PTM on the test runs
    (of ``systems``), or "" when they are not there."""
    from structid.bench import glass
    from structid.registry import get_classifier

    try:
        runs = [r for r in glass.test_runs(root) if systems is None or r.system in systems]
    except InputError:
        return ""
    rows, _ = glass.evaluate({"ptm": get_classifier("ptm"), "nmcnn": model}, root, runs=runs)
    return glass.markdown(rows) if rows else ""


#: the two-channel Cu-Zr model: map channel weights (the Neighbors Map paper, section 3.4)
CUZR_CHANNELS = ({"Cu": 1.0, "Zr": -1.0},)


def build_nmcnn_cuzr(root: Path, seed: int = 0, epochs: int = 15, name: str = "nmcnn-cuzr") -> Path:
    """Liquid and glass of Cu64Zr36 with two map channels (geometry, and Cu = +1 / Zr = -1):
    trained on the checked quench snapshots of ``structid md run quench -s cuzr``."""
    from structid.md.dynamics import checked_frames
    from structid.models.nmcnn import NMCNN

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    descriptor = NeighborsMap(size=32, scale="auto", channel_weights=CUZR_CHANNELS)
    quench, checks = checked_frames(root, "quench", ["cuzr"], {"liquid", "amorphous"})
    maps, labels = [], []
    for item in quench:
        for fraction in MISSING_SHARES:
            got, names = sample_maps(descriptor, item.frame, item.names(), GLASS_ATOMS[item.label], rng, fraction)
            maps += got
            labels += names
    maps, labels = np.concatenate(maps), np.concatenate(labels)
    built = time.perf_counter() - start
    model = NMCNN(descriptor, epochs=epochs, seed=seed, architecture="pool-first-s2")
    model.fit_descriptors(maps, labels, progress=lambda e: print(json.dumps(e), flush=True))
    meta = {"name": name, "architecture": "pool-first-s2", "map_size": 32, "seed": seed, "epochs": epochs,
            "maps": int(len(maps)), "sources": [item.source for item in quench] + [window_record(c) for c in checks],
            "map_seconds": built, "glass_accuracy": glass_markdown(model, root, ("cuzr",)),
            "machine": platform.platform(),
            "torch_threads": __import__("torch").get_num_threads()}
    out = model.save(FOLDER / f"{name}.pt", metadata=meta)
    write_cuzr_card(model, meta, FOLDER / f"{name}.md")
    return out


def write_cuzr_card(model, meta: dict, path: Path) -> None:
    from structid.md.dynamics import checks_markdown

    history, classes = model.history_, list(model.classes_)
    lines = [
        f"# Model card: {meta['name']}", "",
        "Neighbors Map (32x32, two channels: geometry, and species weights Cu = +1, Zr = -1, as in "
        "Allera et al. 2023, section 3.4; distances in units of the frame's median nearest-neighbour "
        "distance) + the CNN of Allera et al. 2023, Appendix A, in its `pool-first-s2` variant.", "",
        f"**Classes**: {', '.join(classes)}. Species: Cu and Zr only (another species is refused).", "",
        "## Data",
        "The melt-quench MD of `structid md run quench -s cuzr` (Cu64Zr36, Mendelev 2009 EAM, seed 0, "
        "2,048 atoms, from 2 Tm = 2,400 K to 0.3 Tm in 20 and 100 ps): liquid snapshots (setpoint at or "
        f"above Tm), {GLASS_ATOMS['liquid']} atoms per snapshot and share removed, glass snapshots (at or "
        f"below 0.5 Tm), {GLASS_ATOMS['amorphous']}, with {', '.join(f'{int(100 * f)}' for f in MISSING_SHARES)} % "
        "of the atoms removed; windows checked by `structid.md.dynamics` (table below): "
        f"{meta['maps']:,} maps ({history['train_maps']:,} train, {history['val_maps']:,} validation).", "",
        "## Command", "```",
        "structid md run quench -s cuzr",
        f"python -m structid.training.build {meta['name']} --seed {meta['seed']} --epochs {meta['epochs']}",
        "```", "",
        *training_and_metrics(model, meta), "",
        "Quench windows (the dynamics check of the training labels):", "",
        *checks_markdown([_window(w) for w in meta["sources"] if isinstance(w, dict)]),
    ]
    if meta.get("glass_accuracy"):
        lines += ["", "The Cu-Zr melt-quench run it never saw (`structid bench glass`: another seed, 4,000 atoms, "
                  "cooled at 26 K/ps from 1.6 Tm), % of atoms right:", "",
                  *meta["glass_accuracy"].splitlines()]
    lines += known_limits(meta["name"])
    path.write_text("\n".join(lines) + "\n")


def reevaluate_nmcnn(root: Path, name: str = "nmcnn-metals") -> Path:
    """Measure the held-out accuracy (and, for the glass-aware models, ``structid bench glass``'s
    table) of the shipped model again, after a change to inference or once the test runs exist,
    and rewrite its file and card; the weights stay as trained."""
    from structid.models.nmcnn import NMCNN

    path = FOLDER / f"{name}.pt"
    model = NMCNN.load(path)
    meta = dict(model.metadata_)
    if name == "nmcnn-cuzr":
        meta["glass_accuracy"] = glass_markdown(model, root, ("cuzr",))
        model.save(path, metadata=meta)
        write_cuzr_card(model, meta, FOLDER / f"{name}.md")
        return path
    meta["held_out_accuracy"] = held_out_accuracy(model, root, meta["seed"])
    if meta.get("glass"):
        meta["glass_accuracy"] = glass_markdown(model, root)
    model.save(path, metadata=meta)
    write_card(model, meta, FOLDER / f"{name}.md")
    return path


def training_and_metrics(model, meta: dict) -> list[str]:
    """The "Training" and "Metrics" sections of an NM-CNN's card (up to its confusion matrix)."""
    history, classes = model.history_, list(model.classes_)
    best = history.get("best_epoch", len(history["epochs"]))
    return [
        "## Training",
        f"Adam (lr 1e-3, cosine decay to 5 %, L2 1e-4), batch 128, {meta['epochs']} epochs, class weights "
        f"1/frequency, seed {meta['seed']}; {history['seconds']:.0f} s of training after "
        f"{meta['map_seconds']:.0f} s of map computation on {meta['machine']} (2 cores, "
        f"{meta.get('torch_threads', '?')} torch thread(s)).",
        "",
        "## Metrics",
        f"Validation accuracy: **{100 * history['epochs'][best - 1]['val_accuracy']:.2f} %** "
        f"(epoch {best}, whose weights are kept).",
        "",
        "Validation confusion matrix (rows: true, columns: predicted):",
        "",
        *confusion_markdown(classes, np.array(history["confusion"])),
    ]


def write_card(model, meta: dict, path: Path) -> None:
    history, classes = model.history_, list(model.classes_)
    factor, ideal = meta.get("melting_factor", 1), meta.get("ideal_atoms", 0)
    hot, per = meta.get("hot_noise", 0.0), meta.get("atoms_per_set", 150)
    lines = [
        f"# Model card: {meta['name']}",
        "",
        f"Neighbors Map ({meta['map_size']}x{meta['map_size']}, one geometric channel, distances in "
        "units of the frame's median nearest-neighbour distance) + "
        + ("the CNN of Allera et al. 2023, Appendix A (26.6k parameters)." if meta["architecture"] == "paper"
           else f"the CNN of Allera et al. 2023, Appendix A, in its `{meta['architecture']}` variant "
           "(same layers and 26.6k parameters, fewer multiply-adds: see "
           "`structid.models.nmcnn.build_network`)."),
        "",
        f"**Classes**: {', '.join(classes)}.",
        "",
        "## Data",
        f"DC3-protocol MD made by `structid md run dc3` (seed 0; LAMMPS, NPH + CSVR at "
        f"T/Tm = 0.25, 0.5, 0.75, 1.0 and liquids at Tm) for {', '.join(NMCNN_SYSTEMS)}: frames "
        f"{', '.join(map(str, TRAIN_FRAMES))} of each run for training, frame "
        f"{HELD_OUT_FRAMES[0]} held out. Every training frame is used with "
        f"{', '.join(f'{int(100 * f)}' for f in MISSING_SHARES)} % of its atoms removed at random, "
        f"{per} random atoms each"
        + (f" ({factor} times as many from the crystals and liquids at Tm, a fresh removal each "
           "time a frame runs out of atoms)" if factor > 1 else "")
        + (f"; and the ideal fcc, bcc, hcp (c/a = 1.633) and cd lattices with Gaussian noise of "
           f"{', '.join(map(str, IDEAL_NOISE))} nearest-neighbour distances per coordinate and the same "
           f"removals, {ideal} atoms each" if ideal else "")
        + (f"; and one more copy of each crystal frame at Tm with Gaussian noise of {hot} "
           f"nearest-neighbour distances on half of its atoms, {per} atoms "
           "per share removed" if hot else "")
        + (f"; and the melt-quench MD of `structid md run quench -s {','.join(GLASS_SYSTEMS)}` (seed 0; "
           "2,048 atoms; quenched from 2 Tm to 0.3 Tm in 20 and 100 ps): the crystal before melting, "
           f"{QUENCH_CRYSTAL_ATOMS} atoms per snapshot and share removed, the liquid (setpoint at or above Tm), "
           f"{GLASS_ATOMS['liquid']}, and the glass (at or below 0.5 Tm), {GLASS_ATOMS['amorphous']}, each window "
           "checked by `structid.md.dynamics` (liquid: at least half of the atoms left their cage over "
           "the window; glass: at most 5 %, hot snapshots dropped until that holds; neither more than "
           "10 % a-CNA crystalline): see the table below" if meta.get("glass") else "")
        + f": {meta['maps']:,} maps ({history['train_maps']:,} train, {history['val_maps']:,} validation).",
        "",
        "## Command",
        "```",
        "structid md run dc3          # the data (resumable, ~1 h on 2 cores)",
        *([f"structid md run quench -s {','.join(GLASS_SYSTEMS)}   # the glass data (~30 min)"] if meta.get("glass") else []),
        f"python -m structid.training.build {meta['name']} --seed {meta['seed']} "
        f"--epochs {meta['epochs']} --atoms-per-set {per}"
        f" --melting-factor {factor} --ideal-atoms {ideal} --hot-noise {hot}",
        "```",
        "",
        *training_and_metrics(model, meta),
    ]
    lines += ["", "Held-out frames (Al fcc, Fe bcc, Ti hcp, Si cd at all T/Tm), accuracy (%) vs "
              "share of atoms removed:", ""]
    lines += markdown(from_records(meta["held_out_accuracy"]), first="nmcnn")
    windows = [w for w in meta.get("sources", []) if isinstance(w, dict)]
    if windows:
        from structid.md.dynamics import checks_markdown

        lines += ["", "Quench windows (the dynamics check of the training labels):", ""]
        lines += checks_markdown([_window(w) for w in windows])
    if meta.get("glass_accuracy"):
        lines += ["", "Melt-quench runs no model trained on (`structid bench glass`: other seeds, 4,000 atoms, "
                  "Ni and Cu-Zr cooled at another rate, Pd and Cu-Zr never seen), % of atoms right:", ""]
        lines += meta["glass_accuracy"].splitlines()
    lines += known_limits(meta["name"])
    path.write_text("\n".join(lines) + "\n")


def _window(record: dict):
    from structid.md.dynamics import WindowCheck

    return WindowCheck(record["window"], record["label"], tuple(record["frames"]), tuple(record["used"]),
                       tuple(record["setpoint_K"]), record["span_ps"], record["mobile"], record["msd_d2"],
                       record["crystalline"], bool(record["used"]), record["why"])
