# LQDanceTrack / DanceTrack as the VSD-MOT paper builds them (section IV-A), one 5-frame clip
# per GPU.
#
# DanceTrack: 40 training and 25 validation videos. LQDanceTrack: the same videos degraded
# offline with Real-ESRGAN's degradation at output scale 1, each frame independently (as the
# authors did); the low-quality training videos of a mix are a seeded random choice
# (2:1 -> 27 low-quality + 13 high-quality videos), the whole validation set is degraded.
#
# Expected layout (make_lq_dataset.py of issue 7 writes it; mmdet's CocoVID format, file
# names relative to data_root, low- and high-quality frames under different paths):
#   data/lqdancetrack_dancetrack/annotations/train_lq2-hq1_cocoformat.json  low:high 2:1
#                                           /train_lq1-hq1_cocoformat.json  1:1
#                                           /train_hq_cocoformat.json       all high quality
#                                           /train_lq_cocoformat.json       all low quality
#                       (all 40 videos in both: build the train split with --ratio 1)
#                                           /val_lq_cocoformat.json         LQDanceTrack val
#                                           /val_hq_cocoformat.json         DanceTrack val
#   data/lqdancetrack_dancetrack/det_db_yolox.json  YOLOX proposals (score > 0.05) of every
#       frame, from a YOLOX trained on the same mix (the paper trains it 20 epochs):
#       ../../motrv2/yolox_x_proposals_lqdancetrack-dancetrack-2to1.py (det-db commands there).
#
# Build:
#   python tools/dataset_converters/make_lq_dataset.py data/DanceTrack/train \
#       data/lqdancetrack_dancetrack --split train --ratio 1 --workers 8
#   python tools/dataset_converters/make_lq_dataset.py data/DanceTrack/val \
#       data/lqdancetrack_dancetrack --split val --workers 8
#
# Validation and test use LQDanceTrack; evaluate on DanceTrack with
#   --cfg-options test_dataloader.dataset.ann_file=annotations/val_hq_cocoformat.json
_base_ = ["./lqmot-mot.py"]

data_root = "data/lqdancetrack_dancetrack/"
det_db = data_root + "det_db_yolox.json"
train_ann_file = "annotations/train_lq2-hq1_cocoformat.json"

train_scales = _base_.motrv2_train_scales
test_scale = (1536, 800)

# The same clip augmentation as the LQMOT-MOT mix (MOTRv2's: flip, resize or
# resize-crop-resize, HSV). The paper mentions the HSV jitter for the LQMOT-MOT mix only, but
# the MOTRv2 code it trains with applies MOTHSV to every training clip (DanceTrack included).
train_pipeline = [
    dict(type="MOTRClipSample", num_frames=5, min_step=1, max_step=10),
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="LoadTrackAnnotations"),
            *_base_.motrv2_train_augment,
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
    dataset=dict(data_root=data_root, ann_file=train_ann_file, pipeline=train_pipeline)
)
val_dataloader = dict(dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
