# MOT20 test set, private detections (the model detects): results are written in MOTChallenge
# format for the benchmark server (the test ground truth is not public), as in TDT's Tab. 2.
# MOT20 (4 test sequences, 25 fps, very crowded). Tab. 2 fine-tunes on MOT20 train first:
# configs/tdt/retinanet_r34_embed_mot20-ft.py.
#
# The variables are prefixed (mot20_...) so that a model config can take this file as a second
# base next to one holding its validation set, and pick them:
#   test_dataloader = dict(_delete_=True, **_base_.mot20_test_dataloader)
#   test_evaluator = dict(_delete_=True, **_base_.mot20_test_evaluator)
#
# Annotations (mmdet's converter; it converts data/MOT20/train and data/MOT20/test):
#   python "$(python -c 'import mmdet, os; print(os.path.dirname(mmdet.__file__))')/.mim/tools/dataset_converters/mot2coco.py" \
#       -i data/MOT20 -o data/MOT20/annotations
mot20_root = "data/MOT20/"
mot20_img_scale = (1920, 1080)  # (w, h): the benchmark input of Sec. 4.2

mot20_test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(type="Resize", scale=mot20_img_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
        ],
    ),
    dict(type="PackTrackInputs"),
]
mot20_test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type="TrackImgSampler"),
    dataset=dict(
        type="MOTChallengeDataset",
        data_root=mot20_root,
        ann_file="annotations/test_cocoformat.json",
        data_prefix=dict(img_path="test"),
        metainfo=dict(classes=("pedestrian",)),
        test_mode=True,
        pipeline=mot20_test_pipeline,
    ),
)
# format_only: write one <sequence>.txt per test sequence under outfile_prefix (zip them for the
# server); no scores, there is no public ground truth.
mot20_test_evaluator = dict(
    type="MOTChallengeMetric",
    metric=["HOTA", "CLEAR", "Identity"],
    format_only=True,
    outfile_prefix="./work_dirs/tdt_mot20_test_results",
)
