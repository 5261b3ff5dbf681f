# CrowdHuman as MOTRv2 pseudo clips, for joint training with a video dataset (MOTRv2's
# DanceTrack recipe; the VSD-MOT paper, section IV-C: CrowdHuman train + val with the
# LQDanceTrack-DanceTrack mix, CrowdHuman val only with the LQMOT-MOT mix).
#
# Each CrowdHuman image becomes a 5-frame clip (the video clip length) by a constant
# pan-and-zoom (PseudoClipFromImage: per clip, a shift of 1..50 px per frame on each axis with a
# random sign, applied as crop-and-resize, cumulatively, as the public MOTRv2 code does); one
# identity per full-body box over the clip, boxes pushed out of the frame dropped from then on.
# The clip then gets the same clip-shared flip and resize as the videos, and the proposals of
# the image, mapped through every frame's transform, as LoadDetDBProposals does for videos.
#
# Only names the data; the joint configs concatenate it with the video dataset:
#   configs/motrv2/motrv2_r50_dancetrack_crowdhuman-joint.py
#   configs/vsd_mot/vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1_crowdhuman-joint.py
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
# MOTRv2's train sizes (as the video pipelines): short side 608..992 step 32, long <= 1536.
crowdhuman_clip_scales = [(1536, short) for short in range(608, 993, 32)]


def _crowdhuman_clip_pipeline(det_db, photometric=()):
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
            share_random_params=True,  # one flip / scale (/ HSV) draw for the whole clip
            transforms=[
                *photometric,
                dict(type="RandomFlip", prob=0.5),
                dict(type="RandomChoiceResize", scales=crowdhuman_clip_scales, keep_ratio=True),
                # after the geometric transforms: maps proposals with the homography matrix,
                # which starts as the pseudo-clip warp of the frame
                dict(type="LoadDetDBProposals", det_db=det_db),
            ],
        ),
        # fps (None here) as the video clips of MOTChallengeVideoDataset carry it
        dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride", "fps")),
    ]


def _crowdhuman_clip_dataset(split, photometric=()):
    return dict(
        type="CocoDataset",
        data_root=crowdhuman_clip_root,
        ann_file=f"annotations/{split}.json",
        data_prefix=dict(img=""),
        metainfo=dict(classes=("pedestrian",)),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=_crowdhuman_clip_pipeline(crowdhuman_clip_det_dbs[split], photometric),
    )


crowdhuman_clip_trainval = [_crowdhuman_clip_dataset("train"), _crowdhuman_clip_dataset("val")]
# the LQMOT-MOT mix: CrowdHuman val only, with the YOLOX HSV augmentation of its videos
crowdhuman_clip_val_hsv = [
    _crowdhuman_clip_dataset("val", photometric=(dict(type="YOLOXHSVRandomAug"),))
]
