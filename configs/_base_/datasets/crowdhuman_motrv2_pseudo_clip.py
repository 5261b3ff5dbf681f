# CrowdHuman as MOTRv2 pseudo clips, for joint training with a video dataset (MOTRv2's
# DanceTrack recipe; the VSD-MOT paper, section IV-C: CrowdHuman train + val with the
# LQDanceTrack-DanceTrack mix, CrowdHuman val only with the LQMOT-MOT mix).
#
# Each CrowdHuman image becomes a 5-frame clip (the video clip length) by a constant
# pan-and-zoom (PseudoClipFromImage: per clip, a shift of 1..50 px per frame on each axis with a
# random sign, applied as crop-and-resize, cumulatively, as the public MOTRv2 code does); one
# identity per full-body box over the clip, boxes pushed out of the frame dropped from then on.
# The clip then gets the same clip-shared augmentation as the videos, and the proposals of
# the image, mapped through every frame's transform, as LoadDetDBProposals does for videos.
#
# Only names the data; the joint configs (configs/motrv2/*_crowdhuman-joint.py,
# configs/vsd_mot/*_crowdhuman-joint.py) concatenate it with the video dataset.
#
# 1. Annotations (full-body boxes; 'mask' regions and ignore-flagged boxes become iscrowd):
#      python tools/dataset_converters/crowdhuman_to_coco.py data/CrowdHuman/annotation_train.odgt \
#          data/CrowdHuman -o data/CrowdHuman/annotations/train.json
#      python tools/dataset_converters/crowdhuman_to_coco.py data/CrowdHuman/annotation_val.odgt \
#          data/CrowdHuman -o data/CrowdHuman/annotations/val.json
# 2. Proposals (YOLOX, score > 0.05; keys are the COCO file names "Images/<ID>.jpg"), one det-db
#    per split (see docs/datasets.md):
#      python tools/dataset_converters/make_det_db.py detector \
#          configs/motrv2/yolox_x_proposals_dancetrack.py CKPT \
#          data/CrowdHuman/annotations/train.json data/CrowdHuman \
#          data/CrowdHuman/det_db_yolox_train.json
#    (and val). MOTRv2's public det_db.json works as well: its CrowdHuman keys
#    "crowdhuman/train_image/<ID>.txt" end with the image ID, which LoadDetDBProposals matches.
crowdhuman_clip_root = "data/CrowdHuman/"
crowdhuman_clip_det_dbs = dict(
    train=crowdhuman_clip_root + "det_db_yolox_train.json",
    val=crowdhuman_clip_root + "det_db_yolox_val.json",
)
crowdhuman_clip_frames = 5  # MOTRv2's clip length
crowdhuman_clip_max_shift = 50  # pixels per frame, per axis (MOTRv2)
# MOTRv2's clip augmentation, as the video pipelines (./motrv2_train_augment.py, which this
# file cannot inherit: a joint config has both as bases, and bases may not share keys; the
# config tests check the two are equal): flip, resize or resize-crop-resize (p 0.5), HSV.
crowdhuman_clip_scales = [(1536, short) for short in range(608, 993, 32)]
crowdhuman_clip_augment = [
    dict(type="RandomFlip", prob=0.5),
    dict(
        type="MOTRRandomSelect",
        p=0.5,
        transforms1=[
            dict(type="RandomChoiceResize", scales=crowdhuman_clip_scales, keep_ratio=True)
        ],
        transforms2=[
            dict(
                type="RandomChoiceResize",
                scales=[(100_000, short) for short in (800, 1000, 1200)],
                keep_ratio=True,
            ),
            dict(
                type="RandomCrop",
                crop_type="absolute_range",
                crop_size=(800, 1200),
                allow_negative_crop=True,
            ),
            dict(type="RandomChoiceResize", scales=crowdhuman_clip_scales, keep_ratio=True),
        ],
    ),
    dict(type="YOLOXHSVRandomAug"),
]


def _crowdhuman_clip_pipeline(det_db):
    return [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", with_bbox=True),
        dict(
            type="PseudoClipFromImage",
            num_frames=crowdhuman_clip_frames,
            max_shift=crowdhuman_clip_max_shift,
        ),
        dict(
            type="TransformBroadcaster",
            share_random_params=True,  # one draw of every augmentation for the whole clip
            transforms=[
                *crowdhuman_clip_augment,
                # after the geometric transforms: maps proposals with the homography matrix,
                # which starts as the pseudo-clip warp of the frame
                dict(type="LoadDetDBProposals", det_db=det_db),
            ],
        ),
        # fps (None here) as the video clips of MOTChallengeVideoDataset carry it
        dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride", "fps")),
    ]


def _crowdhuman_clip_dataset(split):
    return dict(
        type="CocoDataset",
        data_root=crowdhuman_clip_root,
        ann_file=f"annotations/{split}.json",
        data_prefix=dict(img=""),
        metainfo=dict(classes=("pedestrian",)),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=_crowdhuman_clip_pipeline(crowdhuman_clip_det_dbs[split]),
    )


# the LQDanceTrack-DanceTrack mix (and MOTRv2's DanceTrack recipe): CrowdHuman train + val
crowdhuman_clip_trainval = [_crowdhuman_clip_dataset("train"), _crowdhuman_clip_dataset("val")]
# the LQMOT-MOT mix: CrowdHuman val only
crowdhuman_clip_val = [_crowdhuman_clip_dataset("val")]
