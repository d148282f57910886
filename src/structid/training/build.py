"""Rebuild a shipped model from data the project generates.

    python -m structid.training.build nmcnn-metals|nmcnn-metals-glass|nmcnn-cuzr|less-8|denoiser-... [--seed 0]

NM-CNN and LESS train on the MD data of ``structid md run ...`` (which must exist); the
denoisers on ideal lattices only. Each writes its model file and card into
:mod:`structid.pretrained`.
"""

from __future__ import annotations

import argparse

from structid.md.store import data_dir
from structid.training import denoisers, less, nmcnn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m structid.training.build", description="rebuild a shipped model")
    parser.add_argument("name", choices=sorted(nmcnn.VARIANTS) + ["nmcnn-cuzr", "less-8", *denoisers.LATTICE_SETS])
    parser.add_argument("--steps", type=int, default=6000, help="denoisers: optimisation steps")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    # nmcnn defaults: the shipped model's recipe
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--atoms-per-set", type=int, default=400,
                        help="nmcnn: random atoms per (training frame, missing fraction)")
    parser.add_argument("--melting-factor", type=int, default=3,
                        help="nmcnn: this many times more atoms from the runs at Tm")
    parser.add_argument("--ideal-atoms", type=int, default=300,
                        help="nmcnn: atoms per (ideal lattice, noise, missing fraction) added")
    parser.add_argument("--hot-noise", type=float, default=0.02,
                        help="nmcnn: Gaussian noise (nearest-neighbour distances) on half the atoms "
                             "of an extra copy of the crystals at Tm; 0: no copy")
    parser.add_argument("--evaluate-only", action="store_true",
                        help="nmcnn: keep the trained weights, measure the held-out accuracy (and bench glass) again")
    args = parser.parse_args(argv)
    if args.name.startswith("denoiser-"):
        print(denoisers.build(args.name, args.steps, args.seed, args.data_dir))
    elif args.name == "less-8":
        print(less.build(data_dir(args.data_dir), args.seed))
    elif args.evaluate_only:
        print(nmcnn.reevaluate_nmcnn(data_dir(args.data_dir), args.name))
    elif args.name == "nmcnn-cuzr":
        print(nmcnn.build_nmcnn_cuzr(data_dir(args.data_dir), args.seed, args.epochs))
    else:
        print(nmcnn.build_nmcnn_metals(data_dir(args.data_dir), args.seed, args.epochs, args.name,
                                       args.atoms_per_set, args.melting_factor, args.ideal_atoms,
                                       args.hot_noise))


if __name__ == "__main__":
    main()
