"""mot of mmdistillmot."""
