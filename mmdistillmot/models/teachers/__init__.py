"""Frozen teachers: the shared contract (:class:`BaseTeacher`) and the registered teachers."""

from mmdistillmot.models.teachers.base_teacher import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BaseTeacher,
    TeacherNotReadyError,
)
from mmdistillmot.models.teachers.clip_teacher import CLIPTeacher
from mmdistillmot.models.teachers.dinov2_teacher import DINOV2_ARCHS, DINOv2Teacher
from mmdistillmot.models.teachers.osnet_teacher import OSNET_ARCHS, OSNetTeacher
from mmdistillmot.models.teachers.torchreid_teacher import TorchreidTeacher
from mmdistillmot.models.teachers.weights import (
    LoadedWeights,
    TeacherWeightsError,
    file_sha256,
    load_weights_file,
    unwrap_state_dict,
)

__all__ = [
    "TorchreidTeacher",
    "CLIPTeacher",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BaseTeacher",
    "TeacherNotReadyError",
    "DINOV2_ARCHS",
    "DINOv2Teacher",
    "OSNET_ARCHS",
    "OSNetTeacher",
    "LoadedWeights",
    "TeacherWeightsError",
    "file_sha256",
    "load_weights_file",
    "unwrap_state_dict",
]
