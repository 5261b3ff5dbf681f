"""teachers of mmdistillmot."""
