# TDT's "OSNet-Large" teacher (Tab. 3, mAP 43.3 on Market-1501) and the embedder of the two-stage
# baseline (Tab. 1): torchreid osnet_ain_x1_0 trained on MSMT17 (combineall), 512-d embeddings
# of 256x128 crops with ImageNet mean/std. 43.3 is the MSMT17 -> Market-1501 mAP that torchreid's
# MODEL_ZOO lists for exactly this model (ResNet-50: 22.8, osnet_x0_25: 31.0), which is how the
# three teachers of Tab. 3 are identified.
#
# Weights: torchreid MODEL_ZOO, "MSMT17 (combineall=True) -> Market1501 & DukeMTMC-reID",
# osnet_ain_x1_0 (file osnet_ain_x1_0_msmt17_256x128_amsgrad_ep50_lr0.0015_coslr_b64_fb10_softmax_
# labsmth_flip_jitter.pth); save it locally under the name below (no download happens here).
#
# Used by tools/distill/extract_teacher_embeddings.py to write the teacher stores, e.g.
#   python tools/distill/extract_teacher_embeddings.py configs/tdt/teachers/osnet_ain_x1_0_msmt17.py \
#       data/JDE/annotations/eth.json data/JDE data/JDE/teacher_stores/osnet_ain_x1_0_msmt17/eth
custom_imports = dict(imports=["mmdistillmot"], allow_failed_imports=False)
teacher = dict(
    type="OSNetTeacher",
    arch="osnet_ain_x1_0",
    weights="checkpoints/reid/osnet_ain_x1_0_msmt17.pth",
    crop_size=(256, 128),
    normalize_embeddings=True,
)
