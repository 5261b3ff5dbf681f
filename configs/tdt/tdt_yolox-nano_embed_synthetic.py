# TDT on YOLOX-Nano, on the embedded synthetic dataset: the one-stage student is mmdet's
# YOLOX-Nano from the real COCO weights (Megvii's ONNX export, converted; person row kept) with
# YOLOXEmbedHead, trained from boxes and the pseudo embeddings of a Re-ID teacher only (no
# identity labels), then tracked by JDETracker with its embeddings. The paper has no YOLOX row
# (its detector is RetinaNet). Ours, a sanity run only: one epoch (75 iterations of batch 4,
# unseeded, 2-core CPU, 1.5 s an iteration) on this machine's data/synthetic_mot (the demo's
# data and teacher store), validated after it: HOTA 44.0 / MOTA 54.6 / IDF1 58.5 / IDs 93. With
# YOLOX's Kaiming init for the embedding predictors instead of YOLOXEmbedHead's near-zero one,
# the first loss_embed was 412 (vs 12), loss_obj rose from 1.4 to 6-7 and the same run gave
# HOTA 20.3 / MOTA 2.8 / IDF1 24.3.
#
# Weights (model layout, BN handling and why: configs/_base_/models/tdt_yolox_nano_embed.py):
#   python tools/model_converters/yolox_nano_onnx_to_mmdet.py \
#       ../shared/assets/weights/yolox_nano.onnx checkpoints/yolox/yolox_nano_coco_onnx.pth
#   python tools/model_converters/yolox_keep_classes.py checkpoints/yolox/yolox_nano_coco_onnx.pth \
#       checkpoints/yolox/yolox_nano_person_onnx.pth --classes person
# The teacher store (as for tdt_r18_fpn_embed_synthetic.py):
#   python tools/distill/extract_teacher_embeddings.py configs/reid/osnet_x0_25_synthetic_teacher.py \
#       data/synthetic_mot/annotations/train_cocoformat.json data/synthetic_mot \
#       data/synthetic_mot/teacher_store
#
# Augmentation: TDT's (random scaling, flip) through KeepTeacherEmbedsAligned, not YOLOX's
# Mosaic / MixUp (multi-image transforms that KeepTeacherEmbedsAligned does not follow).
# Optimiser (ours, not tuned): AdamW, a small lr (2e-4) for the pretrained detector and 5x
# (1e-3, what the demo's MobileNetV2 student trained its new heads with) for the new embedder;
# no weight decay on norms and biases (YOLOX's rule).
_base_ = [
    '../_base_/models/tdt_yolox_nano_embed.py',
    '../_base_/datasets/synthetic_mot_track.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/synthetic_mot/'
teacher_store = data_root + 'teacher_store'
train_ann_file = data_root + 'annotations/train_cocoformat.json'
img_scale = (640, 352)

# the base's model (D_s = 128, the paper's benchmark size; the demo's MobileNetV2 student found
# 128 better than 64 on these data, docs/demo.md); JDETracker with FairMOT's thresholds
model = _base_.tdt_yolox_nano_model

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
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/train_cocoformat.json',
        data_prefix=dict(img=''),
        metainfo=dict(classes=('pedestrian', )),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=6, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'bbox_head.multi_level_embed_convs': dict(lr_mult=5.0),
            'bbox_head.multi_level_conv_embed': dict(lr_mult=5.0),
        }),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=6, by_epoch=True, begin=0, end=6)
]
default_hooks = dict(logger=dict(interval=10))
auto_scale_lr = dict(enable=False, base_batch_size=4)
