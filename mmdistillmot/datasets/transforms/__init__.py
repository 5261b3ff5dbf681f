"""Data transforms: degradation, teacher embeddings, FairMOT augmentations, MOTR clips."""

from mmdistillmot.datasets.transforms.clip_frame_sample import MOTRClipSample
from mmdistillmot.datasets.transforms.degradation import RealESRGANDegradation
from mmdistillmot.datasets.transforms.fairmot_augment import FairMOTHSVAugment, FairMOTRandomAffine
from mmdistillmot.datasets.transforms.letterbox import Letterbox
from mmdistillmot.datasets.transforms.load_proposals import LoadDetDBProposals
from mmdistillmot.datasets.transforms.load_teacher_embeddings import (
    KeepTeacherEmbedsAligned,
    LoadTeacherEmbeddings,
)
from mmdistillmot.datasets.transforms.pseudo_clip_from_image import PseudoClipFromImage

__all__ = [
    "FairMOTHSVAugment",
    "FairMOTRandomAffine",
    "KeepTeacherEmbedsAligned",
    "Letterbox",
    "LoadDetDBProposals",
    "LoadTeacherEmbeddings",
    "MOTRClipSample",
    "PseudoClipFromImage",
    "RealESRGANDegradation",
]
