"""Datasets, readers and data transforms."""

from mmdistillmot.datasets import transforms  # noqa: F401
