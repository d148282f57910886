"""What a model trained on a user's trajectory did: the held-out check, the structure fractions
over the whole trajectory next to PTM's, and the transition temperatures the model and the
potential energy give (``structid train ... --report DIR``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from structid.io.writers import AtomicFile
from structid.labels import VOCABULARY
from structid.training.autolabel import UNKNOWN, LabelledFrameRecord, TrajectoryLabels, code_names, records_with_frames

#: classes that are not a crystal
DISORDERED = ("other", "liquid", "amorphous", "unknown")


@dataclass
class HeldOut:
    """Per-atom confusion of the model on held-out labelled frames."""

    classes: list[str]
    confusion: np.ndarray  # rows: truth, columns: prediction (classes order)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.confusion.sum(), 1))

    def per_class(self) -> dict[str, float]:
        rows = self.confusion.sum(axis=1)
        return {c: float(self.confusion[k, k] / rows[k]) for k, c in enumerate(self.classes) if rows[k]}


def heldout_check(model, labels: TrajectoryLabels, types: dict[int, str] | None = None) -> HeldOut | None:
    """The model's labels against the held-out frames' labels (``unknown`` atoms left out)."""
    records = labels.heldout()
    if not records:
        return None
    pairs = []
    for record, frame in records_with_frames(records, types):
        predicted = model.classify(frame).names
        keep = record.codes != UNKNOWN
        pairs.append((code_names(record.codes[keep]), np.asarray(predicted)[keep]))
    truth = np.concatenate([t for t, _ in pairs])
    guess = np.concatenate([g for _, g in pairs])
    classes = [n for n in VOCABULARY if n in set(truth) | set(guess)]
    index = {c: k for k, c in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, ([index[t] for t in truth], [index[g] for g in guess]), 1)
    return HeldOut(classes, confusion)


@dataclass
class Fractions:
    """The model's (and PTM's, when it ran) structure fractions on every frame."""

    records: list[LabelledFrameRecord]
    names: list[str]
    model: np.ndarray  # (n_frames, len(names))
    ptm_names: list[str]
    ptm: np.ndarray | None


def trajectory_fractions(model, labels: TrajectoryLabels, types: dict[int, str] | None = None) -> Fractions:
    """Classify every labelled or unlabelled frame ``labels`` saw with ``model``."""
    counts = []
    for record, frame in records_with_frames(labels.frames, types):
        counts.append(model.classify(frame).counts())
    names = [n for n in VOCABULARY if any(c.get(n) for c in counts)]
    model_f = np.array([[c.get(n, 0) / max(r.n_atoms, 1) for n in names] for c, r in zip(counts, labels.frames)])
    ptm_counts = [r.ptm_counts for r in labels.frames]
    if all(c is not None for c in ptm_counts):
        ptm_names = [n for n in VOCABULARY if any(c.get(n) for c in ptm_counts)]
        ptm_f = np.array([[c.get(n, 0) / max(r.n_atoms, 1) for n in ptm_names]
                          for c, r in zip(ptm_counts, labels.frames)])
    else:
        ptm_names, ptm_f = [], None
    return Fractions(labels.frames, names, model_f.reshape(len(counts), len(names)), ptm_names, ptm_f)


def crystalline(fractions: np.ndarray, names: list[str]) -> np.ndarray:
    """Share of atoms in any crystal class per frame."""
    keep = [k for k, n in enumerate(names) if n not in DISORDERED]
    return fractions[:, keep].sum(axis=1) if keep else np.zeros(len(fractions))


def _crossing(values: np.ndarray, temperature: np.ndarray, falling: bool = True) -> float | None:
    """T where ``values`` first crosses 0.5 (downwards when ``falling``), interpolated."""
    v = values if falling else 1 - values
    for k in range(1, len(v)):
        if v[k - 1] >= 0.5 > v[k]:
            w = (v[k - 1] - 0.5) / (v[k - 1] - v[k])
            return float(temperature[k - 1] + w * (temperature[k] - temperature[k - 1]))
    return None


def melting_from_energy(temperature: np.ndarray, energy: np.ndarray) -> float | None:
    """On a heating ramp: T at the largest jump of the potential energy between two frames, after
    taking out the jump the median dE/dT predicts (the latent heat shows as one outlier)."""
    if len(temperature) < 4:
        return None
    dt, de = np.diff(temperature), np.diff(energy)
    ok = np.abs(dt) > 0
    if not ok.any():
        return None
    slope = np.median(de[ok] / dt[ok])
    excess = de - slope * dt
    k = int(np.argmax(excess))
    return float(0.5 * (temperature[k] + temperature[k + 1]))


def glass_from_energy(temperature: np.ndarray, energy: np.ndarray, min_points: int = 4) -> float | None:
    """On a cooling ramp: the glass transition as the crossing of two straight lines fitted to
    E(T) above and below a break chosen to minimise their squared residuals."""
    order = np.argsort(temperature)
    t, e = temperature[order], energy[order]
    if len(t) < 2 * min_points:
        return None
    best = (np.inf, None)
    for k in range(min_points, len(t) - min_points + 1):
        low, high = np.polyfit(t[:k], e[:k], 1), np.polyfit(t[k:], e[k:], 1)
        sse = (np.sum((np.polyval(low, t[:k]) - e[:k]) ** 2) + np.sum((np.polyval(high, t[k:]) - e[k:]) ** 2))
        if sse < best[0] and low[0] != high[0]:
            best = (sse, float((high[1] - low[1]) / (low[0] - high[0])))
    return best[1]


def transitions(fractions: Fractions) -> list[dict]:
    """Per input file with temperatures: the melting point on its heating part (crystal share
    falls below one half; energy jump) and the glass transition on its cooling part (liquid
    share falls below one half while amorphous rises; bilinear E(T))."""
    found = []
    files = sorted({r.file for r in fractions.records})
    for file in files:
        rows = [k for k, r in enumerate(fractions.records) if r.file == file]
        recs = [fractions.records[k] for k in rows]
        if not all("Temp" in r.quantities for r in recs):
            continue
        t = np.array([r.quantities["Temp"] for r in recs])
        e = np.array([r.quantities.get("PotEng", np.nan) for r in recs])
        top = int(np.argmax(t))
        model = fractions.model[rows]
        entry = {"file": recs[0].path}
        heats = top >= 3 and t[top] - t[0] > 0.2 * t[top]
        cools = len(t) - top >= 8 and t[top] - t[-1] > 0.2 * t[top]
        if heats:
            entry["melting_model_K"] = _crossing(crystalline(model[:top + 1], fractions.names), t[:top + 1])
            if fractions.ptm is not None:
                entry["melting_ptm_K"] = _crossing(crystalline(fractions.ptm[rows][:top + 1], fractions.ptm_names), t[:top + 1])
            if np.isfinite(e).all():
                entry["melting_energy_K"] = melting_from_energy(t[:top + 1], e[:top + 1])
        if cools and "liquid" in fractions.names and "amorphous" in fractions.names:
            liquid = model[top:, fractions.names.index("liquid")]
            entry["glass_model_K"] = _crossing(liquid, t[top:])
            if np.isfinite(e).all():
                entry["glass_energy_K"] = glass_from_energy(t[top:], e[top:])
        found.append(entry)
    return found


def fractions_csv(fractions: Fractions) -> str:
    """One row per frame: file, frame, timestep, T, PE, the model's and PTM's fractions."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["file", "frame", "timestep", "Temp", "PotEng", "source",
                     *fractions.names, *(f"ptm_{n}" for n in fractions.ptm_names)])
    for k, r in enumerate(fractions.records):
        ptm = [] if fractions.ptm is None else [f"{v:.6f}" for v in fractions.ptm[k]]
        writer.writerow([r.path, r.index, r.timestep, r.quantities.get("Temp", ""), r.quantities.get("PotEng", ""),
                         (r.source or "") + (" (held out)" if r.holdout and r.source else ""),
                         *(f"{v:.6f}" for v in fractions.model[k]), *ptm])
    return text.getvalue()


def fractions_plot(fractions: Fractions, title: str) -> bytes:
    """PNG: the model's fractions (solid) and PTM's (dashed) against the frame, and the
    temperature below when the frames have one."""
    from structid.plots import trajectory_plot

    has_t = all("Temp" in r.quantities for r in fractions.records)
    temperature = np.array([r.quantities["Temp"] for r in fractions.records]) if has_t else None
    return trajectory_plot(fractions.model, fractions.names, fractions.ptm, fractions.ptm_names, temperature, title)


def write_report(folder: str | Path, text: str, fractions: Fractions, title: str) -> list[Path]:
    """report.md, fractions.csv and fractions.png in ``folder`` (each written atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in (("report.md", text.encode()), ("fractions.csv", fractions_csv(fractions).encode()),
                       ("fractions.png", fractions_plot(fractions, title))):
        with AtomicFile(folder / name, force=True) as out:
            out.write(data)
        written.append(folder / name)
    return written


def markdown(labels: TrajectoryLabels, counts: dict[str, int], held: HeldOut | None,
             found: list[dict], header: str) -> str:
    """The report's text."""
    lines = [f"# {header}", "", "## Training labels", ""]
    lines += [f"- {source}: {n} frame(s)" for source, n in labels.by_source().items()]
    lines += [f"- {note}" for note in labels.notes]
    lines += ["", "| class | labelled atoms (training frames) |", "|---|---:|"]
    lines += [f"| {k} | {v:,} |" for k, v in counts.items()]
    if held is not None:
        lines += ["", f"## Held-out frames: {held.accuracy:.2%} of {held.confusion.sum():,} labelled atoms", "",
                  "| true \\ predicted | " + " | ".join(held.classes) + " | right |",
                  "|---|" + "---:|" * (len(held.classes) + 1)]
        right = held.per_class()
        for k, c in enumerate(held.classes):
            if held.confusion[k].sum():
                lines.append(f"| {c} | " + " | ".join(f"{v:,}" for v in held.confusion[k]) + f" | {right[c]:.2%} |")
    if found:
        lines += ["", "## Transitions (K)", "", "| file | melting: model | PTM | energy | glass: model | energy |",
                  "|---|---:|---:|---:|---:|---:|"]
        fmt = (lambda v: "—" if v is None else f"{v:.0f}")
        for f in found:
            lines.append(f"| {f['file']} | {fmt(f.get('melting_model_K'))} | {fmt(f.get('melting_ptm_K'))} | "
                         f"{fmt(f.get('melting_energy_K'))} | {fmt(f.get('glass_model_K'))} | {fmt(f.get('glass_energy_K'))} |")
    return "\n".join(lines) + "\n"
