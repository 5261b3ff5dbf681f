# The embedded synthetic MOT dataset (tools/dataset_converters/make_synthetic_mot.py) for
# tracking evaluation: every validation sequence is tracked frame by frame (image-based
# sampling; the tracker resets at frame 0) and scored with HOTA, CLEAR and Identity.
# MOTChallengeVideoDataset is mmdet's MOTChallengeDataset plus each video's fps in its frames'
# metainfo (the tracker's lost-track buffer); OneBasedMOTChallengeMetric is mmdet's metric
# writing track ids from 1, as MOTChallenge files have them.
dataset_type = 'MOTChallengeVideoDataset'
data_root = 'data/synthetic_mot/'
backend_args = None
img_scale = (640, 352)  # (w, h)

track_test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=img_scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations')
        ]),
    dict(type='PackTrackInputs')
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='TrackImgSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val_cocoformat.json',
        data_prefix=dict(img_path=''),
        metainfo=dict(classes=('pedestrian', )),
        test_mode=True,
        pipeline=track_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OneBasedMOTChallengeMetric', metric=['HOTA', 'CLEAR', 'Identity'])
test_evaluator = val_evaluator
