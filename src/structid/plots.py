"""PNG figures (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

import io

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    _pyplot().close(fig)
    return buffer.getvalue()


def fraction_plot(x: np.ndarray, fractions: np.ndarray, names: list[str], xlabel: str, title: str) -> bytes:
    """PNG bytes: one line per structure (columns of ``fractions``, named ``names``) against ``x``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for k, name in enumerate(names):
        ax.plot(x, fractions[:, k], marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def trajectory_plot(model: np.ndarray, names: list[str], reference: np.ndarray | None, reference_names: list[str],
                    temperature: np.ndarray | None, title: str, reference_label: str = "PTM") -> bytes:
    """PNG bytes: per-frame fractions of a model (solid) and of a reference method (dashed, same
    colour per structure) against the frame number, with the temperature (K) below if given."""
    plt = _pyplot()
    rows = 2 if temperature is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7, 5.5 if rows == 2 else 3.5), dpi=120, sharex=True, squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(model))
    colors = {}
    for k, name in enumerate(names):
        (line,) = ax.plot(x, model[:, k], label=name)
        colors[name] = line.get_color()
    if reference is not None:
        for k, name in enumerate(reference_names):
            ax.plot(x, reference[:, k], ls="--", lw=1, color=colors.get(name), label=f"{reference_label} {name}")
    ax.set_ylabel("fraction of atoms")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if temperature is not None:
        axes[1, 0].plot(x, temperature, color="k")
        axes[1, 0].set_ylabel("T (K)")
    axes[-1, 0].set_xlabel("frame (inputs one after another)")
    fig.tight_layout()
    return _png(fig)


def render_maps(maps: np.ndarray, captions: list[str], columns: int | None = None) -> bytes:
    """PNG bytes of a grid of Neighbors Maps (n, C, N, N): one panel per atom and channel,
    ``columns`` panels per row (default: one row per atom)."""
    plt = _pyplot()
    n, c = maps.shape[:2]
    panels = [(maps[k, ch], captions[k] + ("" if ch == 0 else f", channel {ch}"), ch > 0)
              for k in range(n) for ch in range(c)]
    columns = columns or c
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.7 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image, caption, chemical) in zip(axes.ravel(), panels):
        limit = np.abs(image).max() or 1.0
        ax.imshow(image, cmap="coolwarm" if chemical else "viridis",
                  vmin=-limit if chemical else 0, vmax=limit)
        ax.set_title(caption, fontsize=8)
    fig.tight_layout()
    return _png(fig)
