# TDT benchmark model (Sec. 4.2, Tab. 2): RetinaNet ResNet-34 FPN P3-P7 (3 scales x aspect ratios
# 0.25/0.5/1.0 w/h, class and box subnets of four 128-ch convs) + the embedder head (two 3x3
# convs, 256 ch between, BN) predicting D_s = 128 dims per anchor, supervised by the OSNet-Large
# teacher (osnet_ain_x1_0 on MSMT17) on the BaseTrainSet + CrowdHuman at 1080x1920; association
# by FairMOT's JDETracker. Losses: focal (alpha 0.25, gamma 1.5) x1, Huber (delta 0.1) x50,
# L2 embedding x10 (see the base model config for the mmdet equivalents).
#
# Validation: the six MOT15 sequences (configs/_base_/datasets/mot15_val6_track.py). Benchmark
# submissions: retinanet_r34_embed_mot{16,17}-test.py (same weights) and
# retinanet_r34_embed_mot20-ft.py (fine-tuned on MOT20 train). Data preparation and teacher
# stores: configs/tdt/README.md.
_base_ = [
    "../_base_/models/tdt_retinanet_r34_fpn_embed.py",
    "../_base_/datasets/jde_mix_det_coco.py",
    "../_base_/datasets/crowdhuman_det_coco.py",
    "../_base_/datasets/mot15_val6_track.py",
    "../_base_/default_runtime.py",
]
img_scale = (1920, 1080)  # (w, h): 1080x1920 for the benchmark (Sec. 4.2)
embed_dim = 128
# The teacher whose stores supervise the embeddings: its store folder name and the fingerprint
# fields the stores must match (a store of another teacher is refused, not silently used).
teacher_name = "osnet_ain_x1_0_msmt17"
expected_teacher = dict(name="OSNetTeacher", arch="osnet_ain_x1_0")

model = dict(
    detector=dict(
        backbone=dict(
            # ImageNet weights (torchvision's resnet34-b627a593.pth, saved locally)
            init_cfg=dict(
                _delete_=True,
                type="Pretrained",
                checkpoint="checkpoints/imagenet/resnet34-b627a593.pth",
            )
        ),
        bbox_head=dict(embed_dim=embed_dim),
    ),
    # FairMOT's JDETracker keeps detections above 0.3 on MOT15 (reference.md); the MOT16/17 test
    # configs use its default 0.4
    tracker=dict(obj_score_thr=0.3),
)

# Sec. 4.2: random horizontal flip and random scaling from 0.5 to 2.0 (then a crop back to the
# input size); KeepTeacherEmbedsAligned keeps each box's teacher embedding with it.
train_transforms = [
    dict(type="RandomResize", scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    # mmdet 3.3 reads an absolute crop_size as (w, h), like img_scale
    dict(type="RandomCrop", crop_size=img_scale, crop_type="absolute"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
# (data root, annotation file, teacher store) of every training set
train_parts = [
    *[
        (
            _base_.jde_root,
            f"annotations/{source}.json",
            f"{_base_.jde_store_root}{teacher_name}/{source}",
        )
        for source in _base_.jde_sources
    ],
    *[
        (
            _base_.crowdhuman_root,
            f"annotations/{split}.json",
            f"{_base_.crowdhuman_store_root}{teacher_name}/{split}",
        )
        for split in _base_.crowdhuman_splits
    ],
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
                expected_teacher=expected_teacher,
            ),
            dict(type="KeepTeacherEmbedsAligned", transforms=train_transforms),
        ],
    )
    for root, ann_file, store_dir in train_parts
]
# batch 16 = 8 GPUs x 2 (tools/train.py --auto-scale-lr rescales the lr for another total)
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    batch_sampler=dict(type="AspectRatioBatchSampler"),
    dataset=dict(type="ConcatDataset", datasets=train_datasets),
)

# validation at the training resolution
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

# Sec. 4.2: "300K to 500K iterations depending on the settings": 500K for this larger setting
# (more data, 1080x1920), 300K for the 608x1088 BaseTrainSet ablations.
max_iters = 500000
warmup_iters = 2000
train_cfg = dict(type="IterBasedTrainLoop", max_iters=max_iters, val_interval=25000)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
# SGD, lr 0.15 for batch 16, cosine decay; linear warm-up from 0.001 over the first 2000
# iterations (the TF Object Detection API's cosine_decay_with_warmup, which decays over the
# iterations after the warm-up). Momentum and weight decay are not in the paper: mmdet's
# RetinaNet values.
optim_wrapper = dict(
    type="OptimWrapper", optimizer=dict(type="SGD", lr=0.15, momentum=0.9, weight_decay=1e-4)
)
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
auto_scale_lr = dict(enable=False, base_batch_size=16)

default_hooks = dict(
    checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=25000, max_keep_ckpts=3),
    visualization=dict(type="TrackVisualizationHook", draw=False),
)
log_processor = dict(by_epoch=False)
visualizer = dict(
    type="TrackLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer"
)
