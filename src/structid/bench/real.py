"""Accuracy on realistic samples (``structid md run real``) against their inherent-structure truth.

Every atom falls into one category:

* a crystal atom (the minimised snapshot says fcc, bcc, hcp or cd) is right when given that
  label; it is reported by its class and, near a free surface, by its depth: layer 2 (the
  neighbours of surface atoms), layer 3, and the bulk (deeper, or no surface in the sample);
* a non-crystalline atom (``other`` in the inherent structure) is right when given no crystal
  label (other, liquid, amorphous or unknown); it is reported as ``surface`` (depth 0),
  ``boundary`` (grain and twin boundaries of bicrystals and polycrystals) or ``defect`` (point
  defects, dislocation cores, and anything else).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from structid.labels import CODE, CRYSTALLINE, CRYSTALLINE_CODES, Classifier
from structid.md.store import finished_runs, per_atom_names

#: sample kinds whose non-crystalline atoms are boundaries
BOUNDARY_SAMPLES = ("bicrystal", "polycrystal")
#: columns of the summary, in order
CATEGORIES = ("fcc", "bcc", "hcp", "cd", "layer 2", "layer 3", "surface", "defect", "boundary")


@dataclass
class Row:
    """One method on one category of atoms of one run."""

    system: str
    sample: str
    th: float
    method: str
    category: str  # a crystal class, "layer 2", "layer 3", "surface", "defect" or "boundary"
    correct: int
    atoms: int

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.atoms, 1)


def categories(truth: np.ndarray, depth: np.ndarray, sample: str) -> np.ndarray:
    """(n,) category of every atom from its true name and its depth below a surface."""
    crystal = np.isin(truth, sorted(CRYSTALLINE))
    out = np.where(crystal, truth, "defect").astype(object)
    out[crystal & (depth == 1)] = "layer 2"
    out[crystal & (depth == 2)] = "layer 3"
    if sample in BOUNDARY_SAMPLES:
        out[~crystal] = "boundary"
    out[~crystal & (depth == 0)] = "surface"
    return out


def correct(truth: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(n,) whether each predicted code is right for the true name (see the module doc)."""
    predicted_crystal = np.isin(codes, CRYSTALLINE_CODES)
    truth_codes = np.array([CODE[t] for t in truth]) if len(truth) else np.zeros(0, int)
    return np.where(np.isin(truth, sorted(CRYSTALLINE)), codes == truth_codes, ~predicted_crystal)


def evaluate(root, classifiers: Mapping[str, Classifier], systems: list[str] | None = None,
             progress: Callable[[dict], None] | None = None) -> list[Row]:
    """Every method (name -> classifier) on the one snapshot of every finished realistic run."""
    rows = []
    for run in finished_runs(root, "real", systems):
        frame = next(run.frames())
        truth = per_atom_names(frame, run)
        depth = np.asarray(frame.properties["depth"]).astype(np.int64)
        sample = run.meta["sample"]
        category = categories(truth, depth, sample)
        for name, classifier in classifiers.items():
            hit = correct(truth, np.asarray(classifier.classify(frame).codes))
            for c in np.unique(category):
                mask = category == c
                rows.append(Row(run.system, sample, run.meta["th"], name, str(c),
                                int(hit[mask].sum()), int(mask.sum())))
        if progress:
            progress(run.meta)
    return rows


def pooled(rows: list[Row], key: Callable[[Row], tuple]) -> dict[tuple, tuple[int, int]]:
    """(correct, atoms) summed over the rows sharing ``key(row)``."""
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        sums[key(row)][0] += row.correct
        sums[key(row)][1] += row.atoms
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _cell(hit_total: tuple[int, int] | None) -> str:
    if hit_total is None or hit_total[1] == 0:
        return ""
    return f"{100 * hit_total[0] / hit_total[1]:.1f}"


def summary_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Accuracy (%) per method (rows) and category (columns), over every sample."""
    sums = pooled(rows, lambda r: (r.method, r.category))
    methods = list(dict.fromkeys(r.method for r in rows))
    present = [c for c in CATEGORIES if any(k[1] == c for k in sums)]
    body = [[m, *(_cell(sums.get((m, c))) for c in present)] for m in methods]
    atoms = pooled(rows[: len(rows)], lambda r: (r.category,))
    n_methods = max(len(methods), 1)
    header = ["method", *(f"{c} ({atoms[(c,)][1] // n_methods:,})" for c in present)]
    return header, body


def sample_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Accuracy (%) over all atoms, per sample kind (rows) and method (columns)."""
    sums = pooled(rows, lambda r: (r.sample, r.th, r.method))
    methods = list(dict.fromkeys(r.method for r in rows))
    samples = sorted({(k[0], k[1]) for k in sums})
    body = [[f"{s} ({th:g} Tm)", *(_cell(sums.get((s, th, m))) for m in methods)] for s, th in samples]
    return ["sample", *methods], body


def system_table(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Accuracy (%) over all atoms, per system (rows) and method (columns)."""
    sums = pooled(rows, lambda r: (r.system, r.method))
    methods = list(dict.fromkeys(r.method for r in rows))
    systems = sorted({k[0] for k in sums})
    return ["system", *methods], [[s, *(_cell(sums.get((s, m))) for m in methods)] for s in systems]


#: crystal categories judged per run (the real-samples issue: every class with >= 50 atoms)
JUDGED = ("fcc", "bcc", "hcp", "cd", "layer 2", "layer 3")


def goal_table(rows: list[Row], goal: float = 0.98, min_atoms: int = 50) -> tuple[list[str], list[list[str]]]:
    """Per method: how many (run, crystal category) cells with at least ``min_atoms`` atoms
    reach ``goal``, and the cells that do not, worst first."""
    body = []
    for method in dict.fromkeys(r.method for r in rows):
        judged = [r for r in rows if r.method == method and r.category in JUDGED and r.atoms >= min_atoms]
        below = sorted((r for r in judged if r.accuracy < goal), key=lambda r: r.accuracy)
        misses = ", ".join(f"{r.system} {r.sample} {r.category} {100 * r.accuracy:.1f}" for r in below)
        body.append([method, f"{len(judged) - len(below)} of {len(judged)}", misses])
    return ["method", f"cells ≥ {100 * goal:g} %", "below (system, sample, class, %)"], body


def markdown(rows: list[Row]) -> str:
    """The tables as Markdown."""
    parts = []
    for title, (header, body) in (("By category (all samples)", summary_table(rows)),
                                  ("By sample (all systems)", sample_table(rows)),
                                  ("By system (all samples)", system_table(rows)),
                                  ("Crystal classes with ≥ 50 atoms per run", goal_table(rows))):
        parts += [f"### {title}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in body), ""]
    return "\n".join(parts)


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["system", "sample", "th", "method", "category", "correct", "atoms", "accuracy"])
    for r in rows:
        writer.writerow([r.system, r.sample, r.th, r.method, r.category, r.correct, r.atoms, f"{r.accuracy:.5f}"])
    return buffer.getvalue()


def figure(rows: list[Row]) -> bytes:
    """A PNG: accuracy per category, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    header, body = summary_table(rows)
    categories_shown = header[1:]
    fig, ax = plt.subplots(figsize=(1.1 * len(categories_shown) + 5, 4))
    width = 0.8 / max(len(body), 1)
    x = np.arange(len(categories_shown))
    for k, row in enumerate(body):
        values = [float(v) if v else np.nan for v in row[1:]]
        ax.bar(x + k * width - 0.4 + width / 2, values, width, label=row[0])
    ax.set_xticks(x, categories_shown, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the bars, not on them
    ax.set_title("realistic samples: accuracy against the inherent structure")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
