"""LESS benchmarks (issue figures), printed as Markdown.

1. Validation accuracy and confusion matrix of the model (from its card, made at build time).
2. Extension to graphite with 2 % of the training-set size vs retraining from scratch.
3. Accuracy vs Th on the held-out DC3 frames, next to a-CNA and PTM.
4. Speed on the 100,800-atom frame: features, features + inference, PTM in the same run.

    python benchmarks/less.py [--model FILE] [--data-dir DIR]
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: shipped less-8)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip (1-4)")
    args = parser.parse_args()
    skip = set(args.skip.split(","))

    import numpy as np

    from structid.bench import dc3
    from structid.bench.speed import benchmark_frame, speed_table
    from structid.bench.protocol import HELD_OUT_FRAMES
    from structid.md.store import data_dir
    from structid.registry import get_classifier
    from structid.training import less as less8
    from structid.training.cards import confusion_markdown

    model = get_classifier("less", **({"model": args.model} if args.model else {}))
    root = data_dir(args.data_dir)

    card = model.metadata_
    if "1" not in skip and card.get("val_accuracy") is not None:
        print(f"## Validation: {100 * card['val_accuracy']:.2f} % on {card['val_size']:,} held-out atoms\n")
        print("\n".join(confusion_markdown(card["classes"], card["confusion"])))
        if "val_accuracy_paper_features" in card:
            print(f"\nPaper's 12 features only: {100 * card['val_accuracy_paper_features']:.2f} %\n")

    if "2" not in skip:
        x, y, _ = less8.collect(root, less8.TRAIN_PHASES, np.random.default_rng(0))
        x_val, y_val, _ = less8.collect(root, less8.HELD_OUT_PHASES, np.random.default_rng(1))
        r = less8.graphite_extension(model, x_val, y_val, x, y, root, seed=0)
        print(f"## Extension to graphite ({r['n_new']} graphite atoms = 2 % of the {r['train_size']:,} "
              f"training atoms; {r['n_new']} vectors per old class sampled from the model; "
              f"validation: {r['graphite_val_size']:,} held-out graphite atoms)\n")
        print("| | extended | retrained from scratch |\n|---|---:|---:|")
        print(f"| graphite accuracy (%) | {100 * r['graphite']:.2f} | {100 * r['retrained_graphite']:.2f} |")
        print(f"| old classes (%), before: {100 * r['old_before']:.2f} | {100 * r['old_after']:.2f} | "
              f"{100 * r['retrained_old']:.2f} |")
        print(f"| seconds | {r['seconds_extend']:.1f} | {r['seconds_retrain']:.1f} |")
        print(f"\nExtension is {r['seconds_retrain'] / r['seconds_extend']:.1f}x faster than retraining.\n")

    if "3" not in skip:
        print("## Accuracy (%) vs Th, held-out DC3 frames (Li, Zr unseen; ice: no class)\n")
        rows = dc3.evaluate(root, ["less", "acna", "ptm"], frame_indices=HELD_OUT_FRAMES, classifiers={"less": model})
        print(dc3.markdown(rows))

    if "4" not in skip:
        print("## Speed on 100,800 atoms\n")
        frame = benchmark_frame()
        print(speed_table(frame, {
            "Steinhardt features": lambda: model.descriptor.compute(frame),
            "features + LESS": lambda: model.classify(frame)}, args.repeats))


if __name__ == "__main__":
    main()
