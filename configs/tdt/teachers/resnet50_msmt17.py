# TDT's "ResNet50" teacher (Tab. 3, mAP 22.8 on Market-1501): torchreid resnet50 trained on MSMT17
# (combineall); torchreid's MODEL_ZOO lists 22.8 MSMT17 -> Market-1501 mAP for it. Its embedding is
# the 2048-d global-average-pooled last stage (a student with D_s <= 2048 regresses the first D_s
# dims), from 256x128 crops with ImageNet mean/std.
#
# Weights: torchreid MODEL_ZOO, "MSMT17 (combineall=True) -> Market1501 & DukeMTMC-reID",
# resnet50; save it locally under the name below.
#
# TorchreidTeacher lives in mmdistillmot.models.teachers.torchreid_teacher (imported below so the
# config works whether or not the package's __init__ imports it).
custom_imports = dict(
    imports=["mmdistillmot", "mmdistillmot.models.teachers.torchreid_teacher"],
    allow_failed_imports=False,
)
teacher = dict(
    type="TorchreidTeacher",
    arch="resnet50",
    weights="checkpoints/reid/resnet50_msmt17.pth",
    crop_size=(256, 128),
    normalize_embeddings=True,
)
