"""Necks: FairMOT's HRNet upsample-and-concatenate.

VSD-MOT's quality-aware fusion (DSWR) fuses query vectors, not feature maps: it is
:class:`mmdistillmot.models.mot.vsd.dswr.DSWR` (registry name ``DSWR``).
"""

from mmdistillmot.models.necks.hrnet_upsample_concat import HRNetUpsampleConcat

__all__ = ["HRNetUpsampleConcat"]
