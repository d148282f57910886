"""Structure files in and out: :func:`open_trajectory` reads, :class:`TrajectoryWriter` writes."""
