"""Datasets, readers and data transforms."""

from mmdistillmot.datasets import transforms  # noqa: F401
from mmdistillmot.datasets.market1501_dataset import Market1501Dataset

__all__ = ["Market1501Dataset"]
