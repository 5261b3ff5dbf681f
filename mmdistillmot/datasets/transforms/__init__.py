"""transforms of mmdistillmot."""
