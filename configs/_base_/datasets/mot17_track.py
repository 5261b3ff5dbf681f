# MOT17 test set, private detections (the model detects): results are written in MOTChallenge
# format for the benchmark server (the test ground truth is not public), as in TDT's Tab. 2.
# MOT17 test (7 sequences; MOT17 holds each three times, DPM / FRCNN / SDP: with private detections the
# three copies are the same frames, and results for all 21 names are what the server expects).
#
# The variables are prefixed (mot17_...) so that a model config can take this file as a second
# base next to one holding its validation set, and pick them:
#   test_dataloader = dict(_delete_=True, **_base_.mot17_test_dataloader)
#   test_evaluator = dict(_delete_=True, **_base_.mot17_test_evaluator)
#
# Annotations (mmdet's converter; it converts data/MOT17/train and data/MOT17/test):
#   python "$(python -c 'import mmdet, os; print(os.path.dirname(mmdet.__file__))')/.mim/tools/dataset_converters/mot2coco.py" \
#       -i data/MOT17 -o data/MOT17/annotations
mot17_root = "data/MOT17/"
mot17_img_scale = (1920, 1080)  # (w, h): the benchmark input of Sec. 4.2

mot17_test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=mot17_img_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs"),
]
mot17_test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="TrackImgSampler"),
    dataset=dict(
        type="MOTChallengeVideoDataset",
        data_root=mot17_root,
        ann_file="annotations/test_cocoformat.json",
        data_prefix=dict(img_path="test"),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=mot17_test_pipeline,
    ),
)
# format_only: write one <sequence>.txt per test sequence under outfile_prefix (zip them for the
# server); no scores, there is no public ground truth.
mot17_test_evaluator = dict(
    type="OneBasedMOTChallengeMetric",
    metric=["HOTA", "CLEAR", "Identity"],
    format_only=True,
    outfile_prefix="./work_dirs/tdt_mot17_test_results",
)
