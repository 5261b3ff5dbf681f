# A CPU-sized MOTRv2 for short runs on the embedded synthetic dataset (not a paper setting).
# The ResNet-50 synthetic config costs about 2.5 minutes per 5-frame training clip on two
# shared CPU cores; this variant keeps every MOTRv2 mechanism (detect / proposal / track /
# denoising queries, per-layer positional queries, QIMv2, ClipMatcher, runtime tracker) with a
# ResNet-18, d 128, 2 + 3 layers, 3-frame clips and small frames, and trains by iterations.
_base_ = ["./motrv2_r50_synthetic.py"]

embed_dims = 128
model = dict(
    backbone=dict(depth=18),
    neck=dict(in_channels=[128, 256, 512], out_channels=embed_dims),
    positional_encoding=dict(num_feats=embed_dims // 2),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512),
        ),
    ),
    decoder=dict(
        num_layers=3,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=512),
        ),
    ),
    qim=dict(embed_dims=embed_dims, num_heads=4, feedforward_channels=512),
)

train_scales = [(480, short) for short in range(160, 225, 32)]  # short side 160..224
test_scale = (480, 192)
det_db = "data/synthetic_mot/det_db.json"
train_pipeline = [
    dict(type="MOTRClipSample", num_frames=3, min_step=1, max_step=11),
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="LoadTrackAnnotations"),
            dict(type="RandomFlip", prob=0.5),
            dict(type="RandomChoiceResize", scales=train_scales, keep_ratio=True),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride", "fps")),
]
test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=test_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals",)),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(
    _delete_=True, type="IterBasedTrainLoop", max_iters=max_iters, val_interval=max_iters
)
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[240], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters), logger=dict(interval=10))
log_processor = dict(by_epoch=False, window_size=10)

# From scratch, as its base (the synthetic MOTRv2 does not start from COCO Deformable DETR).
load_from = None
