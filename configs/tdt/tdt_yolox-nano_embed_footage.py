# TDT on YOLOX-Nano for a user's own footage: the student that tools/distill/adapt_to_footage.py
# trains on pseudo boxes (the COCO YOLOX-Nano's people) and pseudo embeddings (an OSNet teacher
# on those boxes), with no labels at all; docs/adapt_to_footage.md has the TUD-Campus run.
#
# The model, its weights and the BN handling are tdt_yolox-nano_embed_synthetic.py's (and
# configs/_base_/models/tdt_yolox_nano_embed.py's): the COCO YOLOX-Nano cut to its person row,
# plus YOLOXEmbedHead's new embedder. The data paths below are placeholders that
# adapt_to_footage.py replaces (mmdistillmot/apis/footage_adaptation.py) in the config it writes
# to WORK_DIR/configs/student_footage.py; use that file with tools/train.py, tools/test.py and
# track_video.py.
#
# Embedder (ours, measured on TUD-Campus, docs/adapt_to_footage.md): plain 3x3 convs of 128
# channels instead of YOLOX-Nano's depthwise 64-channel branch layout. With the depthwise one the
# squared-error loss levelled off at 0.75 (x10), 39 % of the targets' variance explained, and the
# embeddings told people apart no better than the untrained ones (nearest-neighbour identity rate
# 0.61 after, 0.66 before); the plain one costs 4 % of the frame rate (9.8 vs 10.2 frames/s).
# Sizes: YOLOX-Nano's own 416x416 (the ONNX export's input; frames keep their aspect ratio and
# are padded with 114), randomly rescaled by 0.8-1.2 with flips in training (TDT's
# augmentation through KeepTeacherEmbedsAligned). 8 epochs by default (adapt_to_footage.py
# --epochs), the cosine schedule ending with them.
_base_ = ['./tdt_yolox-nano_embed_synthetic.py']
data_root = 'work_dirs/adapt/pseudo/'
teacher_store = 'work_dirs/adapt/teacher_store'
train_ann_file = data_root + 'annotations/footage_cocoformat.json'
img_scale = (416, 416)
epochs = 8

model = dict(
    detector=dict(bbox_head=dict(embed_feat_channels=128, embed_use_depthwise=False)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='LoadTeacherEmbeddings', store_dir=teacher_store, ann_file=train_ann_file),
    dict(
        type='KeepTeacherEmbedsAligned',
        transforms=[
            dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs'),
        ]),
]
track_test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='Resize', scale=img_scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations')
        ]),
    dict(type='PackTrackInputs')
]
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/footage_cocoformat.json',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/footage_cocoformat.json',
        pipeline=track_test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=epochs, val_begin=epochs + 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0, end=epochs)
]
