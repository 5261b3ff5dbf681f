# TDT's validation set for the ablations and Tab. 1 (Sec. 4.1): "six video sequences from the MOT15
# training set ... which do not include the overlapped sequences with MOT17". Tracked frame by
# frame (the tracker resets at each sequence's first frame) and scored with HOTA, CLEAR (MOTA,
# IDs) and Identity (IDF1). Which six, and why: configs/tdt/README.md ("MOT15 validation set").
#
# Annotations: put the six sequences (and nothing else) under data/MOT15_val6/train/ and run
# mmdet's converter (a path containing 'MOT15' makes it read the MOT15 gt layout):
#   mkdir -p data/MOT15_val6/train data/MOT15_val6/test
#   for s in ETH-Bahnhof ETH-Sunnyday KITTI-13 KITTI-17 PETS09-S2L1 TUD-Stadtmitte; do
#     ln -s "$PWD/data/MOT15/train/$s" data/MOT15_val6/train/$s; done
#   python "$(python -c 'import mmdet, os; print(os.path.dirname(mmdet.__file__))')/.mim/tools/dataset_converters/mot2coco.py" \
#       -i data/MOT15_val6 -o data/MOT15_val6/annotations
mot15_val6_sequences = [
    "ETH-Bahnhof",
    "ETH-Sunnyday",
    "KITTI-13",
    "KITTI-17",
    "PETS09-S2L1",
    "TUD-Stadtmitte",
]
mot15_root = "data/MOT15_val6/"
mot15_img_scale = (1088, 608)  # (w, h): the ablation input of Sec. 4.2

mot15_test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=mot15_img_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs"),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="TrackImgSampler"),
    dataset=dict(
        type="MOTChallengeVideoDataset",
        data_root=mot15_root,
        ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path="train"),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=mot15_test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="OneBasedMOTChallengeMetric", metric=["HOTA", "CLEAR", "Identity"])
test_evaluator = val_evaluator
