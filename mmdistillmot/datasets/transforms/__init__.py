"""Data transforms: image loading, degradation, teacher embeddings, FairMOT augmentation, MOTR."""

from mmdistillmot.datasets.transforms.clip_frame_sample import MOTRClipSample
from mmdistillmot.datasets.transforms.degradation import RealESRGANDegradation
from mmdistillmot.datasets.transforms.fairmot_augment import FairMOTHSVAugment, FairMOTRandomAffine
from mmdistillmot.datasets.transforms.fairmot_targets import BuildFairMOTTargets
from mmdistillmot.datasets.transforms.letterbox import Letterbox
from mmdistillmot.datasets.transforms.load_proposals import LoadDetDBProposals
from mmdistillmot.datasets.transforms.load_teacher_embeddings import (
    KeepTeacherEmbedsAligned,
    LoadTeacherEmbeddings,
)
from mmdistillmot.datasets.transforms.loading import LoadImageFromFile
from mmdistillmot.datasets.transforms.motr_random_select import MOTRRandomSelect
from mmdistillmot.datasets.transforms.pseudo_clip_from_image import PseudoClipFromImage
from mmdistillmot.datasets.transforms.resize_keep_original import ResizeKeepOriginal

__all__ = [
    "BuildFairMOTTargets",
    "FairMOTHSVAugment",
    "FairMOTRandomAffine",
    "KeepTeacherEmbedsAligned",
    "Letterbox",
    "LoadImageFromFile",
    "LoadDetDBProposals",
    "LoadTeacherEmbeddings",
    "MOTRClipSample",
    "MOTRRandomSelect",
    "PseudoClipFromImage",
    "RealESRGANDegradation",
    "ResizeKeepOriginal",
]
