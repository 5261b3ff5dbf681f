# TDT ablation setting (Sec. 4.2, 4.4): retinanet_r34_embed.py with D_s = 512, trained on the
# BaseTrainSet only (no CrowdHuman) at 608x1088 for 300K iterations, validated on the six MOT15
# sequences. This one model is the TDT row of Tab. 1, the "ON-Large" row of Tab. 3, the
# "RNet34-FPN" row of Tab. 5 and the "512" row of Tab. 6: those four rows report the same
# numbers (MOTA 0.785, IDF1 0.787, IDs 57, AP 0.913, 9.61 FPS), hence D_s = 512 here while the
# benchmark model uses D_s = 128 (Sec. 4.2). The other ablation configs change one thing each.
_base_ = ["./retinanet_r34_embed.py"]
img_scale = (1088, 608)  # (w, h): 608x1088 (Sec. 4.2)
embed_dim = 512

model = dict(detector=dict(bbox_head=dict(embed_dim=embed_dim)))

train_transforms = [
    dict(type="RandomResize", scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    # mmdet 3.3 reads an absolute crop_size as (w, h), like img_scale
    dict(type="RandomCrop", crop_size=img_scale, crop_type="absolute"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
# the BaseTrainSet only
train_parts = [
    (
        _base_.jde_root,
        f"annotations/{source}.json",
        f"{_base_.jde_store_root}{_base_.teacher_name}/{source}",
    )
    for source in _base_.jde_sources
]
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
            dict(
                type="LoadTeacherEmbeddings",
                store_dir=store_dir,
                ann_file=root + ann_file,
                expected_teacher=_base_.expected_teacher,
            ),
            dict(type="KeepTeacherEmbedsAligned", transforms=train_transforms),
        ],
    )
    for root, ann_file, store_dir in train_parts
]
train_dataloader = dict(dataset=dict(datasets=train_datasets))

test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=img_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs"),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# Sec. 4.2: 300K iterations for the 608x1088 BaseTrainSet setting (see retinanet_r34_embed.py)
max_iters = 300000
warmup_iters = _base_.warmup_iters
train_cfg = dict(max_iters=max_iters, val_interval=20000)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001 / 0.15, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type="CosineAnnealingLR",
        T_max=max_iters - warmup_iters,
        eta_min=0.0,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters,
    ),
]
default_hooks = dict(checkpoint=dict(interval=20000))
