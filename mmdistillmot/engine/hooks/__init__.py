"""hooks of mmdistillmot."""
