"""Pieces of the model cards (Markdown beside each shipped model)."""

from __future__ import annotations

from collections.abc import Sequence


def confusion_markdown(classes: Sequence[str], matrix) -> list[str]:
    """Markdown rows of a confusion matrix (rows: true, columns: predicted)."""
    lines = ["| true \\ predicted | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(classes, matrix)]
