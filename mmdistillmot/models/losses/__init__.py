"""losses of mmdistillmot."""
