# VSD-MOT (ResNet-50): MOTRv2 + the VSD student (+ DSWR) on the last decoder layer's queries,
# distilled from a frozen CLIP RN50 image encoder with DCSD (parts in vsd_modules.py). The
# deployed model is the MOTRv2 student; the teacher runs in training only.
_base_ = ["../../_base_/models/motrv2_r50.py", "./vsd_modules.py"]

model = dict(
    _delete_=True,
    type="VSDMOT",
    student=dict(_base_.model, query_refiner=_base_.vsd_query_refiner),
    teacher=_base_.clip_teacher,
    distill_loss=_base_.dcsd_loss,
    alpha=_base_.vsd_alpha,
    input_channel_order="bgr",
)
