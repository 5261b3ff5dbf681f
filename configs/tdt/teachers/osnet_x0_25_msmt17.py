# TDT's "OSNet-Small" teacher (Tab. 3, mAP 31.0 on Market-1501): torchreid osnet_x0_25 trained on
# MSMT17 (combineall); torchreid's MODEL_ZOO lists 31.0 MSMT17 -> Market-1501 mAP for it.
# 512-d embeddings of 256x128 crops with ImageNet mean/std.
#
# Weights: torchreid MODEL_ZOO, "MSMT17 (combineall=True) -> Market1501 & DukeMTMC-reID",
# osnet_x0_25. The same architecture trained on MSMT17 is also in ../shared/assets/weights/
# (osnet_x0_25_msmt17.pth, see SOURCES.md there); copy or link it to the path below.
custom_imports = dict(imports=["mmdistillmot"], allow_failed_imports=False)
teacher = dict(
    type="OSNetTeacher",
    arch="osnet_x0_25",
    weights="checkpoints/reid/osnet_x0_25_msmt17.pth",
    crop_size=(256, 128),
    normalize_embeddings=True,
)
