"""Necks of mmdistillmot."""

from mmdistillmot.models.necks.hrnet_upsample_concat import HRNetUpsampleConcat

__all__ = ["HRNetUpsampleConcat"]
