"""Necks: FairMOT's HRNet upsample-and-concatenate, VSD-MOT's quality-aware fusion (DSWR)."""

from mmdistillmot.models.necks.dswr import DSWR
from mmdistillmot.models.necks.hrnet_upsample_concat import HRNetUpsampleConcat

__all__ = ["DSWR", "HRNetUpsampleConcat"]
