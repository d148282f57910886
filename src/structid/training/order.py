"""The shipped order signatures and their mismatch thresholds
(:mod:`structid.descriptors.order`), regenerated from lattices and the DC3-protocol MD::

    structid md run dc3
    python -m structid.training.order [--data-dir DIR]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from structid.bench.protocol import TRAIN_FRAMES
from structid.descriptors.order import (SIGNATURE_FILE, SIGNATURE_L, SIGNATURE_LATTICES, SIGNATURE_MISSING,
                                        SIGNATURE_NOISE, RegionalOrder, as_references, compute_signatures,
                                        mismatch)
from structid.io.writers import AtomicFile
from structid.lattices import gaussian_noise, lattice, remove_atoms
from structid.md.store import data_dir, labelled_frames

#: materials whose DC3 training frames calibrate the thresholds (Li and Zr stay unseen)
CALIBRATION_SYSTEMS = ("al", "ar", "fe", "mg", "ti", "si", "ge", "nacl", "h2o")
#: a threshold is this multiple of the 99.9th percentile of the mismatch of known crystals
THRESHOLD_MARGIN = 1.1


def calibrate_thresholds(root: Path, references: dict[str, np.ndarray],
                         seed: int = 1) -> tuple[dict[str, float], dict[str, str]]:
    """Per-label mismatch thresholds: :data:`THRESHOLD_MARGIN` x the 99.9th percentile of the
    mismatch of the label's own atoms, on the DC3 *training* frames of
    :data:`CALIBRATION_SYSTEMS` at every Th, whole and with 50 % of the atoms removed; lattices
    without MD data (graphite, fluorite) on noisy thinned lattices of another seed. Returns the
    thresholds and where each came from."""
    rng = np.random.default_rng(seed)
    order = RegionalOrder(ls=SIGNATURE_L, bonds="shell")
    values: dict[str, list[np.ndarray]] = {}
    source: dict[str, str] = {}
    for item in labelled_frames(root, "dc3", list(CALIBRATION_SYSTEMS), set(SIGNATURE_LATTICES), TRAIN_FRAMES):
        for missing in (0.0, 0.5):
            frame = remove_atoms(item.frame, missing, rng) if missing else item.frame
            q = order.compute_all(frame)
            values.setdefault(item.label, []).append(mismatch(q, np.full(len(frame), item.label), references))
            source[item.label] = "DC3 training frames"
    for name, repeat in SIGNATURE_LATTICES.items():
        if name in values:
            continue
        for sigma in SIGNATURE_NOISE:
            for missing in (0.0, 0.5):
                frame = gaussian_noise(lattice(name, 2.5, repeat + 1), max(sigma, 0.01) * 2.5, rng)
                frame = remove_atoms(frame, missing, rng) if missing else frame
                labels = np.full(len(frame), name)
                values.setdefault(name, []).append(mismatch(order.compute_all(frame), labels, references))
        source[name] = "noisy lattices"
    thresholds = {name: round(THRESHOLD_MARGIN * float(np.percentile(np.concatenate(v), 99.9)), 4)
                  for name, v in sorted(values.items())}
    return thresholds, source


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="regenerate the shipped order signatures and thresholds")
    parser.add_argument("--data-dir", default=None, help="the MD data (`structid md run dc3` first)")
    args = parser.parse_args()

    table = {"about": "regional Q_l signatures and mismatch thresholds of structid.descriptors.order; "
                      "regenerate with `python -m structid.training.order` after `structid md run dc3`",
             "ls": list(SIGNATURE_L), "noise": list(SIGNATURE_NOISE), "missing": list(SIGNATURE_MISSING),
             "signatures": compute_signatures()}
    thresholds, source = calibrate_thresholds(data_dir(args.data_dir), as_references(table["signatures"]))
    text = json.dumps({**table, "thresholds": thresholds, "threshold_source": source,
                       "threshold_rule": f"{THRESHOLD_MARGIN} x the 99.9th percentile of the mismatch "
                                         "of known crystals"}, indent=1) + "\n"
    with AtomicFile(SIGNATURE_FILE, force=True) as f:
        f.write(text.encode())
    print(json.dumps(thresholds, indent=1))
