"""trackers of mmdistillmot."""
