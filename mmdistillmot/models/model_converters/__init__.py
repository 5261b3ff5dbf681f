"""Model converters: real pretrained weights in other layouts -> this repo's models, strictly."""

from mmdistillmot.models.model_converters.deformable_detr_motrv2 import (
    COCO_PERSON_ROW,
    DeformableDETRConversion,
    DeformableDETRConversionError,
    check_against_model,
    convert_deformable_detr_file,
    convert_deformable_detr_weights,
)
from mmdistillmot.models.model_converters.mobilenetv2_imagenet import (
    MMDET_OUT_INDEX_TO_FEATURES,
    MOBILENETV2_LAYOUTS,
    ConvertedCheckpoint,
    MobileNetV2Conversion,
    MobileNetV2ConversionError,
    convert_mobilenetv2_file,
    convert_mobilenetv2_weights,
    convert_torchvision_mobilenetv2,
    detect_mobilenetv2_layout,
    mmdet_mobilenetv2_shapes,
)
from mmdistillmot.models.model_converters.packaged_weights import (
    DEEP_SORT_MOBILENETV2,
    PackagedWeightFile,
    PackagedWeightsError,
    find_packaged_mobilenetv2,
    locate_packaged_file,
)

__all__ = [
    "COCO_PERSON_ROW",
    "DeformableDETRConversion",
    "DeformableDETRConversionError",
    "check_against_model",
    "convert_deformable_detr_file",
    "convert_deformable_detr_weights",
    "MMDET_OUT_INDEX_TO_FEATURES",
    "MOBILENETV2_LAYOUTS",
    "ConvertedCheckpoint",
    "MobileNetV2Conversion",
    "MobileNetV2ConversionError",
    "convert_mobilenetv2_file",
    "convert_mobilenetv2_weights",
    "convert_torchvision_mobilenetv2",
    "detect_mobilenetv2_layout",
    "mmdet_mobilenetv2_shapes",
    "DEEP_SORT_MOBILENETV2",
    "PackagedWeightFile",
    "PackagedWeightsError",
    "find_packaged_mobilenetv2",
    "locate_packaged_file",
]
