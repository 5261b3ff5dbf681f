"""necks of mmdistillmot."""
