"""Pieces of the model cards (Markdown beside each shipped model)."""

from __future__ import annotations

from collections.abc import Sequence


def confusion_markdown(classes: Sequence[str], matrix) -> list[str]:
    """Markdown rows of a confusion matrix (rows: true, columns: predicted)."""
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(classes, matrix)]


#: where each shipped model is known to fail (measured: docs/benchmarks.md), for its card
#: what the order check (`--check-order`) makes of crystals outside a model's classes (docs/benchmarks.md)
NMCNN_CHECK = (
    " With `--check-order` (on in the default pipeline) 90.5 % of the atoms of crystals outside its "
    "classes become `unknown` (`structid bench unknown`: A15, beta-Sn, alpha-U, quartz, graphite, ice, "
    "Tersoff cristobalite); the ideal Fd-3m cristobalite, whose bonds point as diamond's, stays cd.")
LESS_CHECK = (" With `--check-order` 99.5 % of the atoms of crystals outside its classes become `unknown` "
              "(`structid bench unknown`).")
KNOWN_LIMITS = {
    "nmcnn-metals": (
        "Trained on bulk periodic crystals and melts only, it has no class for a defect: on the "
        "realistic samples (`structid bench real`: slabs, particles, point defects, dislocations, "
        "boundaries in Cu, Fe, Ti, Si) it calls 83 % of the free-surface atoms, 93.5 % of the "
        "point-defect and dislocation-core atoms and 75 % of the grain-boundary atoms crystalline. "
        "No amorphous class: glasses come out liquid or hcp. Crystals outside its classes (hd ice, "
        "rocksalt) get wrong crystal labels. For samples with surfaces or defects use the default "
        "pipeline (`structid classify FILE`), which takes only its liquid labels there."
        + NMCNN_CHECK),
    "nmcnn-metals-glass": (
        "The amorphous class costs some of the crystals with many atoms missing: on the held-out "
        "frames with 50 % removed, hcp 94.1 % (nmcnn-metals: 98.0), fcc 97.9 (99.0), bcc 98.3 (98.9); "
        "so `-m nmcnn` keeps nmcnn-metals by default. The glass class was learnt from one-element "
        "EAM glasses: in the Cu64Zr36 glass at 360 K it finds 24 % `amorphous` and 73 % `liquid` (use nmcnn-cuzr, which reads the "
        "species). The undercooled liquid between Tm and the glass transition is not in its data "
        "and drifts towards `amorphous` well above the transition (docs/benchmarks.md, \"Training on "
        "your own trajectory\"). As nmcnn-metals it has no class for a defect, surface or boundary "
        "(`structid bench real`: it calls 63 % of the free-surface, 91 % of the defect and 60 % of the "
        "boundary atoms crystalline): on such samples use the default pipeline. With `--check-order` 97.0 % of the atoms of "
        "crystals outside its classes become `unknown` and 3.0 % keep a wrong label (`structid bench "
        "unknown`; nmcnn-metals: 90.5 / 9.5), but 11.6 % of a Ni glass too (ordered pockets)."),
    "nmcnn-cuzr": (
        "Trained on one composition (Cu64Zr36, one potential) and only on liquids at or above the "
        "liquidus and glasses at or below 0.5 Tm: it has no crystal class, so a Cu-Zr crystal "
        "gets `liquid` or `amorphous` (`--check-order` turns those labels in an ordered region into "
        "`unknown`). Between the liquidus and the glass transition, the undercooled liquid drifts "
        "towards `amorphous` (as the one-channel models do: docs/benchmarks.md, \"Training on your "
        "own trajectory\"). Other compositions and other species pairs are not measured; a frame "
        "with a species other than Cu and Zr is refused."),
    "less-8": (
        "Trained on bulk periodic crystals, melts, glasses and crystal/liquid interfaces, it has no "
        "class for a defect: on the realistic samples (`structid bench real`) it calls 83 % of the "
        "free-surface atoms, 88 % of the point-defect and dislocation-core atoms and 56 % of the "
        "grain-boundary atoms crystalline. Liquids and glasses share the class `amorphous`. "
        "Crystals outside its classes get confident wrong labels." + LESS_CHECK),
    "denoiser-all": (
        "On the realistic samples PTM after 8 steps finds 96.5 % of the fcc, 93.7 % of the bcc, "
        "95.4 % of the hcp and 99.0 % of the cd atoms of the inherent structure; the misses are "
        "crystals superheated to 1.2 Tm (92.7 %; Fe 56 %, near its stability limit) and "
        "polycrystals with grains of ~1,500 atoms at 0.5 Tm (82 %). Of the non-crystalline atoms "
        "it keeps 99.9 % of the surface atoms, 90.7 % of the defect atoms and 88.6 % of the boundary atoms out of the crystal classes: "
        "interstitial cores and some boundary atoms are pulled onto a lattice. Lattices outside "
        "its six (A15, beta-Sn, ...) are not measured."),
    "denoiser-metals": (
        "Trained on periodic fcc, bcc, hcp cells only: diamond and ice structures become `other` "
        "(PTM after it: 0 % of cd Si and Ge), and free surfaces are pulled inward (PTM after it "
        "finds 34 % of the second layer below a surface). Use denoiser-all, the default."),
    "denoiser-dc3": (
        "Trained on periodic cells only: free surfaces are pulled inward (PTM after it finds 31 % "
        "of the second layer below a surface, 75 % of a 3,000-atom particle). Use denoiser-all, the "
        "default."),
}


def known_limits(name: str) -> list[str]:
    """The card's "Known limits" section of the shipped model ``name`` (empty when none)."""
    return ["", "## Known limits", KNOWN_LIMITS[name]] if name in KNOWN_LIMITS else []
