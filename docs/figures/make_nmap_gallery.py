"""Regenerate docs/figures/nmap_gallery.png: one Neighbors Map per structure, ideal and noisy."""

from pathlib import Path

import numpy as np

from structid.descriptors.neighbors_map import NeighborsMap
from structid.lattices import gaussian_noise, lattice
from structid.plots import render_maps

rng = np.random.default_rng(0)
maps, captions = [], []
for name in ("fcc", "bcc", "hcp", "cd", "hd", "sc"):
    ideal = lattice(name, 2.5, 4)
    for frame, tag in ((ideal, "ideal"), (gaussian_noise(ideal, 0.15, rng), "noise 0.15 Å")):
        maps.append(NeighborsMap(scale="auto").compute(frame, atoms=np.array([0]))[0])
        captions.append(f"{name}, {tag}")
out = Path(__file__).with_name("nmap_gallery.png")
out.write_bytes(render_maps(np.stack(maps), captions, columns=4))
print(out)
