# The CPU-sized MOTRv2 (../motrv2/motrv2_r18_synthetic_cpu.py: ResNet-18, d 128, 2 + 3 layers,
# 3-frame clips, short side 160..224) on an offline low-quality copy of the synthetic dataset,
# for a matched CPU comparison with vsd-mot_r18_dcsd-dswr_synthetic-lq_cpu.py (same data, seed,
# schedule and MOTRv2). Not a paper setting. Make the data first (every frame degraded, as the
# paper's all-low-quality mix; the clean frames stay under src/ and hq/):
#   python tools/dataset_converters/make_synthetic_mot.py data/synthetic_vsd/src --seed 0 \
#       --num-train 4 --num-val 2 --frames 150 --no-reid
#   python tools/dataset_converters/make_lq_dataset.py data/synthetic_vsd/src/train \
#       data/synthetic_vsd --split train --ratio 1 --seed 0
#   python tools/dataset_converters/make_lq_dataset.py data/synthetic_vsd/src/val \
#       data/synthetic_vsd --split val --seed 0
#   python tools/dataset_converters/make_det_db.py det-txt data/synthetic_vsd/src/train \
#       data/synthetic_vsd/src/val data/synthetic_vsd/det_db.json
# The det-db keys (train/SYN-01/img1/...) match the lq/ and hq/ frames by path suffix; the
# proposals are the generator's det.txt, the same for both. Test on the clean frames with
#   --cfg-options test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json
_base_ = ["../motrv2/motrv2_r18_synthetic_cpu.py"]

data_root = "data/synthetic_vsd/"
det_db = data_root + "det_db.json"
train_scales = [(480, short) for short in range(160, 225, 32)]  # short side 160..224
test_scale = (480, 192)
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
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/train_lq_cocoformat.json",
        pipeline=train_pipeline,
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/val_lq_cocoformat.json",
        pipeline=test_pipeline,
    )
)
test_dataloader = val_dataloader

# A schedule that fits ~25 minutes of a shared 2-core CPU: 100 iterations, lr drop at 80.
max_iters = 100
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=max_iters, by_epoch=False, milestones=[80], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters), logger=dict(interval=5))
log_processor = dict(by_epoch=False, window_size=5)
randomness = dict(seed=0)

# From scratch, as its base (the synthetic MOTRv2 does not start from COCO Deformable DETR).
load_from = None
