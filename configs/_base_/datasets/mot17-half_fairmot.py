# MOT17 half-train / half-val (mmdet's `tools/dataset_converters/mot2coco.py --split-train`)
# with FairMOT's training pipeline: HSV gains, letterbox to 1088x608 (pad 127.5), random
# affine, horizontal flip; one frame per sample (FairMOT trains on independent images).
dataset_type = "MOTChallengeVideoDataset"
data_root = "data/MOT17/"
img_scale = (1088, 608)  # (w, h)
backend_args = None

train_pipeline = [
    dict(type="BaseFrameSample"),  # the key frame only (TrackImgSampler picks it)
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadImageFromFile", backend_args=backend_args),
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
            dict(type="LoadImageFromFile", backend_args=backend_args),
            dict(type="Letterbox", scale=img_scale, pad_val=127.5),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("letterbox_offset",)),
]

train_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="TrackImgSampler"),  # image-based, shuffled every epoch
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        visibility_thr=-1,
        ann_file="annotations/half-train_cocoformat.json",
        data_prefix=dict(img_path="train"),
        metainfo=dict(classes=("pedestrian",)),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="TrackImgSampler"),  # frames of a video in order, one per call
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file="annotations/half-val_cocoformat.json",
        data_prefix=dict(img_path="train"),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(type="OneBasedMOTChallengeMetric", metric=["HOTA", "CLEAR", "Identity"])
test_evaluator = val_evaluator
