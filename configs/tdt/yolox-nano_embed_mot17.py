# TDT on YOLOX-Nano for MOT17 (private detections): the one-stage tracker of
# ../_base_/models/tdt_yolox_nano_embed.py (mmdet's YOLOX-Nano from the converted COCO weights,
# person row kept, + YOLOXEmbedHead, D_s = 128; JDETracker) trained as TDT's benchmark model
# retinanet_r34_embed.py is: BaseTrainSet + CrowdHuman, boxes and the pseudo embeddings of the
# OSNet-Large teacher only (same stores, same augmentation: flip, scaling 0.5-2.0, crop),
# validated on the six MOT15 sequences; `tools/test.py` writes the MOT17 test submission files
# under work_dirs/tdt_yolox-nano_mot17_test_results/.
#   bash tools/dist_train.sh configs/tdt/yolox-nano_embed_mot17.py 8
#   python tools/test.py configs/tdt/yolox-nano_embed_mot17.py work_dirs/yolox-nano_embed_mot17/iter_300000.pth
# Weights and teacher stores: configs/tdt/README.md and the base model config.
#
# Paper vs ours (MOT17 test, MOTA / IDF1 / IDs): TDT reports only RetinaNet (TDT-RNet34, Tab. 2:
# 63.8 / 60.9 / 4401); there is no YOLOX row in the paper, and we have no number for this
# config: not run (needs the MIX datasets, CrowdHuman, the MSMT17 teacher and a GPU).
#
# Ours, not the paper's, never run (untuned): the input 1088x608 (the size of TDT's ablations,
# JDE's and FairMOT's; the benchmark model uses 1920x1080), and the schedule: SGD with mmdet's
# YOLOX settings (momentum 0.9, Nesterov, weight decay 5e-4 but none on norms and biases) at its
# lr 0.01 for batch 64 scaled to batch 16 (0.0025), TDT's 2000-iteration warm-up and cosine
# decay over 300K iterations (TDT's ablation length; a fine-tuned COCO detector may need fewer).
_base_ = [
    './retinanet_r34_embed.py',
    '../_base_/datasets/mot17_track.py',
    '../_base_/models/tdt_yolox_nano_embed.py',
]
img_scale = (1088, 608)  # (w, h)

# the YOLOX-Nano TDT in place of the RetinaNet one (FairMOT's MOT16/17 threshold 0.4)
model = dict(_delete_=True, **_base_.tdt_yolox_nano_model)

# the base's datasets and stores, each pipeline's augmentation at this input size
train_transforms = [
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=img_scale, crop_type='absolute'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    dataset=dict(datasets=[
        dict(
            dataset,
            pipeline=[
                *dataset['pipeline'][:-1],
                dict(type='KeepTeacherEmbedsAligned', transforms=train_transforms),
            ]) for dataset in _base_.train_datasets
    ]))

test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=img_scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations'),
        ]),
    dict(type='PackTrackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(
    _delete_=True,
    **dict(
        _base_.mot17_test_dataloader,
        dataset=dict(_base_.mot17_test_dataloader['dataset'], pipeline=test_pipeline)))
test_evaluator = dict(
    _delete_=True,
    **dict(
        _base_.mot17_test_evaluator,
        outfile_prefix='./work_dirs/tdt_yolox-nano_mot17_test_results'))

max_iters = 300000
warmup_iters = 2000
train_cfg = dict(max_iters=max_iters)
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='SGD',
        lr=0.0025,
        momentum=0.9,
        weight_decay=5e-4,
        nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001 / 0.15, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=0.0,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters),
]
