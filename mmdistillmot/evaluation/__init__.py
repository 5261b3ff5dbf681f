"""evaluation of mmdistillmot."""
