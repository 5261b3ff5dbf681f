# A small OSNet (x0.25) Re-ID teacher trained on the synthetic Re-ID split only (identities that
# never appear in the tracking sequences): cross-entropy with label smoothing + batch-hard
# triplet, 8 identities x 4 crops per batch, crops of 128x64 (h x w) to stay fast on a CPU.
# After training, write a torchreid-format weight file for OSNetTeacher:
#   python tools/distill/export_reid_teacher.py work_dirs/osnet_x0_25_synthetic/epoch_N.pth \
#       work_dirs/osnet_x0_25_synthetic/osnet_x0_25_synthetic.pth
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/synthetic_mot/reid/'
crop_size = (64, 128)  # (w, h) for mmcv's Resize
num_train_ids = 100  # make_synthetic_mot.py --reid-train-ids (default 100)

model = dict(
    type='TorchreidClassifier',
    arch='osnet_x0_25',
    num_classes=num_train_ids,
    label_smoothing=0.1,
    triplet_margin=0.3,
    data_preprocessor=dict(
        type='ReIDBatchPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))

train_pipeline = [
    dict(
        type='TransformBroadcaster',
        share_random_params=False,
        transforms=[
            dict(type='LoadImageFromFile', to_float32=True),
            dict(type='Resize', scale=crop_size, keep_ratio=False, clip_object_border=False),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        ]),
    dict(type='PackReIDInputs', meta_keys=('flip', 'flip_direction')),
]
train_dataloader = dict(
    batch_size=1,  # one triplet group = 8 identities x 4 crops
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='Market1501Dataset',
        data_root=data_root,
        subset='bounding_box_train',
        triplet_sampler=dict(num_ids=8, ins_per_id=4),
        pipeline=train_pipeline))

# One sample is a triplet group (8 identities x 4 crops), so train by iterations.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=1000000)
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-3, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', T_max=300, by_epoch=False, begin=0, end=300),
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
