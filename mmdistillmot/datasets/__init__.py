"""Datasets, readers and data transforms."""

from mmdistillmot.datasets import transforms  # noqa: F401
from mmdistillmot.datasets.jde_mix_dataset import JDEMixDataset
from mmdistillmot.datasets.market1501_dataset import Market1501Dataset
from mmdistillmot.datasets.mot_challenge_video_dataset import MOTChallengeVideoDataset
from mmdistillmot.datasets.video_frames_dataset import VideoFramesDataset

__all__ = [
    "JDEMixDataset",
    "MOTChallengeVideoDataset",
    "Market1501Dataset",
    "VideoFramesDataset",
]
