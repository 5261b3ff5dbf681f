# FairMOT HRNetV2-W18 on the embedded synthetic MOT dataset
# (tools/dataset_converters/make_synthetic_mot.py, default arguments -> data/synthetic_mot/):
# the same model, losses, augmentations and tracker as the MOT17 configs, with a small
# letterbox input (320x192 instead of 1088x608) and a short schedule, for CPU runs.
_base_ = [
    "../_base_/models/fairmot_hrnetv2_w18.py",
    "../_base_/datasets/mot17-half_fairmot.py",
    "../_base_/default_runtime.py",
]

data_root = "data/synthetic_mot/"
img_scale = (320, 192)  # (w, h); the generator's 480x272 frames are letterboxed (x2/3)

model = dict(
    # Random init, on purpose: the CPU configs must run on a fresh machine without the ImageNet
    # file (the MOT17 configs load it). The distillation results of these configs therefore
    # compare random-init students only.
    backbone=dict(init_cfg=None),
    # nID of annotations/train_cocoformat.json of the default dataset: its 'num_instances', 61
    # (identities 0..60; seed 0, 4 train sequences of 150 frames at 480x272).
    # Another seed or size changes it: then set model.bbox_head.num_identities to that file's
    # 'num_instances' (an identity >= it stops training with a clear error).
    bbox_head=dict(num_identities=61),
    # The generator renders at 15 fps: the lost-track buffer scales with it.
    tracker=dict(frame_rate=15),
)

train_pipeline = [
    dict(type="BaseFrameSample"),
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadImageFromFile", backend_args=None),
            dict(type="LoadTrackAnnotations"),
            dict(type="FairMOTHSVAugment", saturation_gain=0.5, value_gain=0.5),
            dict(type="Letterbox", scale=img_scale, pad_val=127.5),
            dict(
                type="FairMOTRandomAffine",
                max_rotate_degree=5.0,
                max_translate_ratio=0.1,
                scaling_ratio_range=(0.5, 1.2),
                max_shear_degree=2.0,
                border_val=127.5,
            ),
            dict(type="RandomFlip", prob=0.5),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("letterbox_offset",)),
    # CenterNet targets (heatmap, ltrb, offset, centre index, identity) in the workers, on
    # the grid of the input padded as the data preprocessor pads it (FairMOTHead checks)
    dict(type="BuildFairMOTTargets", pad_size_divisor=32),
]
test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile", backend_args=None),
            dict(type="Letterbox", scale=img_scale, pad_val=127.5),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("letterbox_offset",)),
]
# The CocoVID file names already start with 'train/' or 'val/'.
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path=""),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/val_cocoformat.json",
        data_prefix=dict(img_path=""),
        pipeline=test_pipeline,
    )
)
test_dataloader = val_dataloader

# FairMOT's optimiser (Adam, lr 1e-4, no weight decay) on a shorter schedule with the same
# shape: x0.1 after two thirds of the epochs.
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=12, val_interval=4)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-4))
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type="LoggerHook", interval=10),
    checkpoint=dict(type="CheckpointHook", interval=4, max_keep_ckpts=2),
    visualization=dict(type="TrackVisualizationHook", draw=False),
)
visualizer = dict(
    type="TrackLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer"
)
