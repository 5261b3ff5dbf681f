# TDT Tab. 1, "Two-stage": the same detector as ablation_r34-fpn_d512.py (RetinaNet ResNet-34 FPN,
# same training data and schedule, boxes only) without the embedder head, then the OSNet teacher
# (osnet_ain_x1_0, MSMT17: the embedder the TDT student learns from) on a 256x128 crop of every
# detection, then the same JDETracker. Training trains the detector only; the Re-ID network is
# frozen and loads its own weights (configs/tdt/teachers/osnet_ain_x1_0_msmt17.py).
#
# Public detections (tools/demo/track_video.py --public-dets, or mot_param_search.py
# --public-dets-dir): the Re-ID network embeds the given boxes and the detector is never run, so
# no detector checkpoint is needed. Other torchreid weights (e.g. the model zoo's OSNet x0.25
# MSMT17) go in with --cfg-options model.reid.arch=osnet_x0_25
# model.reid.weights=checkpoints/reid/osnet_x0_25_msmt17.pth "model.reid.crop_size=(256,128)".
# The tracker's thresholds are FairMOT's for MOT15 (scores in [0, 1]); another detector's scores
# need their own (tools/analysis/mot_param_search.py; configs/tdt/README.md).
_base_ = ["./ablation_r34-fpn_d512.py"]
model = dict(
    type="TwoStageTracker",
    detector=dict(
        bbox_head=dict(
            _delete_=True,
            type="RetinaHead",
            num_classes=1,
            in_channels=256,
            stacked_convs=4,
            feat_channels=128,
            anchor_generator=dict(
                type="AnchorGenerator",
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[4.0, 2.0, 1.0],
                strides=[8, 16, 32, 64, 128],
            ),
            bbox_coder=dict(
                type="DeltaXYWHBBoxCoder",
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[1.0, 1.0, 1.0, 1.0],
            ),
            loss_cls=dict(
                type="FocalLoss", use_sigmoid=True, gamma=1.5, alpha=0.25, loss_weight=1.0
            ),
            loss_bbox=dict(type="SmoothL1Loss", beta=0.1, loss_weight=1.25),
        )
    ),
    reid=dict(
        type="OSNetTeacher",
        arch="osnet_ain_x1_0",
        weights="checkpoints/reid/osnet_ain_x1_0_msmt17.pth",
        crop_size=(256, 128),
        normalize_embeddings=True,
    ),
)

# boxes only: no teacher stores
train_datasets = [
    dict(
        type="CocoDataset",
        data_root=root,
        ann_file=ann_file,
        data_prefix=dict(img=""),
        metainfo=dict(classes=("pedestrian",)),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=[
            dict(type="LoadImageFromFile"),
            dict(type="LoadAnnotations", with_bbox=True),
            *_base_.train_transforms,
        ],
    )
    for root, ann_file, _ in _base_.train_parts
]
train_dataloader = dict(dataset=dict(datasets=train_datasets))

# TDT's two-stage baseline crops the original frame (as the teacher stores were extracted), not
# the resized one the detector sees: ResizeKeepOriginal keeps it, PackTrackInputs packs it.
test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="ResizeKeepOriginal", scale=_base_.img_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("ori_img",)),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
