# DanceTrack for MOTRv2: 5-frame clips with a random stride 1..11, the same flip and scale for all
# frames of a clip (TransformBroadcaster shares @cache_randomness draws), detector proposals
# from a det-db (tools/dataset_converters/make_det_db.py), mmdet's MOTChallenge layout and
# CocoVID files (DanceTrack keeps the MOTChallenge layout: train/ and val/ with
# SEQ/img1 and SEQ/gt/gt.txt; convert with mmdet's mot2coco.py logic, one file per split).
_base_ = ["./motrv2_train_augment.py"]

dataset_type = "MOTChallengeVideoDataset"
data_root = "data/dancetrack/"
# YOLOX proposals of train and test frames, score > 0.05, e.g.
# make_det_db.py detector configs/motrv2/yolox_x_proposals_dancetrack.py CKPT ... data/dancetrack/det_db_yolox.json
det_db = data_root + "det_db_yolox.json"
backend_args = None

# Short side 608..992 in steps of 32, long side at most 1536 (keep_ratio picks the smaller
# scale); the clip augmentation is motrv2_train_augment.py (flip, crop branch, HSV).
train_scales = _base_.motrv2_train_scales
test_scale = (1536, 800)  # short side 800

train_pipeline = [
    dict(type="MOTRClipSample", num_frames=5, min_step=1, max_step=11),
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadImageFromFile", backend_args=backend_args),
            dict(type="LoadTrackAnnotations"),
            # flip, MOTRv2's resize / resize-crop-resize choice, HSV: one draw per clip
            *_base_.motrv2_train_augment,
            # After the geometric transforms: maps proposals with the homography matrix.
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride", "fps")),
]
test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile", backend_args=backend_args),
            dict(type="Resize", scale=test_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals",)),
]

train_dataloader = dict(
    batch_size=1,  # one clip per GPU, as MOTRv2
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="TrackImgSampler"),  # every frame starts a clip once per epoch
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        visibility_thr=-1,
        ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path="train"),
        metainfo=dict(classes=("pedestrian",)),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type="TrackImgSampler"),  # frame by frame, in order, one video per rank
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file="annotations/val_cocoformat.json",
        data_prefix=dict(img_path="val"),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(type="OneBasedMOTChallengeMetric", metric=["HOTA", "CLEAR", "Identity"])
test_evaluator = val_evaluator
