# TDT on the embedded synthetic dataset: the student of `make demo`, small enough to train on
# 2 CPU cores in minutes. ResNet-18 FPN, two 64-channel convs per subnet, D_s = 64, trained
# from boxes and the pseudo embeddings of a Re-ID teacher only (no identity labels).
#
# The teacher store comes from:
#   python tools/distill/extract_teacher_embeddings.py configs/reid/osnet_x0_25_synthetic_teacher.py \
#       data/synthetic_mot/annotations/train_cocoformat.json data/synthetic_mot \
#       data/synthetic_mot/teacher_store
_base_ = [
    '../_base_/models/tdt_retinanet_r34_fpn_embed.py',
    '../_base_/datasets/synthetic_mot_track.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/synthetic_mot/'
teacher_store = data_root + 'teacher_store'
train_ann_file = data_root + 'annotations/train_cocoformat.json'
img_scale = (640, 352)
embed_dim = 64

model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    detector=dict(
        backbone=dict(depth=18, frozen_stages=-1, norm_eval=False),
        neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
        bbox_head=dict(
            in_channels=64,
            stacked_convs=2,
            feat_channels=64,
            embed_dim=embed_dim,
            embed_feat_channels=64,
            anchor_generator=dict(octave_base_scale=3, strides=[8, 16, 32, 64, 128]))),
    tracker=dict(obj_score_thr=0.4, frame_rate=30))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LoadTeacherEmbeddings', store_dir=teacher_store, ann_file=train_ann_file),
    dict(
        type='KeepTeacherEmbedsAligned',
        transforms=[
            dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs'),
        ]),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/train_cocoformat.json',
        data_prefix=dict(img=''),
        metainfo=dict(classes=('pedestrian', )),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=6, by_epoch=True, begin=0, end=6)
]
default_hooks = dict(logger=dict(interval=10))
auto_scale_lr = dict(enable=False, base_batch_size=4)
