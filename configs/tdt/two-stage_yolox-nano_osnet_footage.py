# TDT's two-stage baseline on footage: the same YOLOX-Nano (person row of the COCO weights, or
# the detector part of an adapted student's checkpoint: same keys, same boxes), then OSNet x0.25
# (MSMT17, 256x128 crops of the original frame, as the teacher stores) on the crops of the
# detections the tracker uses, then the same JDETracker. What adapt_to_footage.py's one-stage
# student is compared with for speed (benchmark_fps.py) and tracking (docs/adapt_to_footage.md).
#   checkpoints/reid/osnet_x0_25_msmt17.pth: ../shared/assets/weights/osnet_x0_25_msmt17.pth
#   (or model.reid.weights=PATH)
_base_ = ['./tdt_yolox-nano_embed_footage.py']
model = dict(
    type='TwoStageTracker',
    detector=dict(
        bbox_head=dict(
            _delete_=True,
            type='YOLOXHead',
            num_classes=1,
            in_channels=64,
            feat_channels=64,
            stacked_convs=2,
            strides=(8, 16, 32),
            use_depthwise=True,
            norm_cfg=_base_.tdt_yolox_nano_frozen_bn,
            act_cfg=dict(type='Swish'))),
    reid=dict(
        type='OSNetTeacher',
        arch='osnet_x0_25',
        weights='checkpoints/reid/osnet_x0_25_msmt17.pth',
        crop_size=(256, 128),
        normalize_embeddings=True))

test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='ResizeKeepOriginal', scale=_base_.img_scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations')
        ]),
    dict(type='PackTrackInputs', meta_keys=('ori_img', ))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
