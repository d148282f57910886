"""The benchmark protocol shared by training and evaluation: which frames of every MD run train
a model and which are held out, and the shares of missing atoms of the missing-atoms test."""

from __future__ import annotations

#: frames of every DC3-protocol run (4 snapshots) that shipped models may train on
TRAIN_FRAMES: tuple[int, ...] = (0, 1, 2)
#: the frame every accuracy figure is measured on (never trained on)
HELD_OUT_FRAMES: tuple[int, ...] = (3,)
#: shares of atoms removed at random in the missing-atoms test (the Neighbors Map paper's Fig. 3)
MISSING_SHARES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
