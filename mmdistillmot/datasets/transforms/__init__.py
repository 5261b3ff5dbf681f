"""Data transforms: degradation, teacher embeddings, FairMOT augmentations, proposals."""

from mmdistillmot.datasets.transforms.degradation import RealESRGANDegradation
from mmdistillmot.datasets.transforms.load_teacher_embeddings import (
    KeepTeacherEmbedsAligned,
    LoadTeacherEmbeddings,
)

__all__ = ["KeepTeacherEmbedsAligned", "LoadTeacherEmbeddings", "RealESRGANDegradation"]
