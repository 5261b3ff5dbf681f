"""distillers of mmdistillmot."""
