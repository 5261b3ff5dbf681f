# VSD-MOT on the low-quality synthetic dataset (see motrv2_r50_synthetic-lq.py for how the
# frames are degraded): the same MOTRv2 plus the VSD student, DCSD and DSWR, alpha 0.4 (the
# paper configs' value). The CLIP teacher needs its weights file; a smoke run without them adds
#   --cfg-options model.teacher.weights=None model.teacher.allow_random_init=True
_base_ = ["./motrv2_r50_synthetic-lq.py", "./_base_/vsd_modules.py"]

model = dict(
    _delete_=True,
    type="VSDMOT",
    student=dict(_base_.model, query_refiner=_base_.vsd_query_refiner),
    teacher=_base_.clip_teacher,
    distill_loss=_base_.dcsd_loss,
    alpha=_base_.vsd_alpha,
    input_channel_order="bgr",
)

# From scratch, as its base (the synthetic MOTRv2 does not start from COCO Deformable DETR).
load_from = None
