"""dense_heads of mmdistillmot."""
