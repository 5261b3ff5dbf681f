"""Distillation core: the distiller wrapper, taps, connectors and student-only checkpoints."""

from mmdistillmot.models.distillers.base_connector import BaseConnector, resize_to
from mmdistillmot.models.distillers.conv1x1_connector import Conv1x1Connector
from mmdistillmot.models.distillers.feature_distiller import DistillLossSpec, FeatureDistiller
from mmdistillmot.models.distillers.raw_frames import recover_raw_frames, student_channel_order
from mmdistillmot.models.distillers.student_checkpoint import (
    DISTILL_STATE_KEY,
    is_student_only,
    merge_distill_state,
    to_student_checkpoint,
)
from mmdistillmot.models.distillers.tap_recorder import TapError, TapRecorder, TapSpec
from mmdistillmot.models.distillers.two_layer_conv_connector import TwoLayerConvConnector

__all__ = [
    "BaseConnector",
    "resize_to",
    "Conv1x1Connector",
    "TwoLayerConvConnector",
    "FeatureDistiller",
    "DistillLossSpec",
    "recover_raw_frames",
    "student_channel_order",
    "DISTILL_STATE_KEY",
    "is_student_only",
    "merge_distill_state",
    "to_student_checkpoint",
    "TapError",
    "TapRecorder",
    "TapSpec",
]
