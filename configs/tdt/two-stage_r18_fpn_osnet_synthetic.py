# The demo's two-stage tracker (TDT Tab. 1 on the synthetic data): the same detector as
# tdt_r18_fpn_embed_synthetic.py (load the same checkpoint: its embedding-branch weights are
# reported as unexpected and left out) without the embedding head, then the OSNet teacher on
# crops of every detection, then the same JDETracker.
_base_ = ['./tdt_r18_fpn_embed_synthetic.py']
model = dict(
    type='TwoStageTracker',
    detector=dict(
        bbox_head=dict(
            _delete_=True,
            type='RetinaHead',
            num_classes=1,
            in_channels=64,
            stacked_convs=2,
            feat_channels=64,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=3,
                scales_per_octave=3,
                ratios=[4.0, 2.0, 1.0],
                strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[.0, .0, .0, .0],
                target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(
                type='FocalLoss', use_sigmoid=True, gamma=1.5, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=0.1, loss_weight=1.25))),
    reid=dict(
        type='OSNetTeacher',
        arch='osnet_x0_25',
        weights='work_dirs/demo/teacher/osnet_x0_25_synthetic.pth',
        crop_size=(128, 64),
        normalize_embeddings=True))

# TDT's two-stage baseline crops the original frame (as the teacher stores were extracted), not
# the resized one the detector sees: ResizeKeepOriginal keeps it, PackTrackInputs packs it.
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
