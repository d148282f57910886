"""Training sets and the recipes that build the shipped models (``python -m
structid.training.build NAME``): data assembly, augmentation, evaluation on held-out frames and
the model cards. The shipped weights themselves live in :mod:`structid.pretrained`."""
