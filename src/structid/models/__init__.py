"""Trainable classifiers and the denoiser (each: fit / save / load / classify)."""
