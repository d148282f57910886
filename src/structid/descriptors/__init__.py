"""Per-atom descriptors: Neighbors Maps (images) and Steinhardt order parameters."""
