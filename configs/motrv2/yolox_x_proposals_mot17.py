# YOLOX-X pedestrian detector that makes MOTRv2's proposals for MOT17 (one class, 1440x800
# input, NMS IoU 0.7 as in ByteTrack's MOT17 detector). Train it like mmdet's YOLOX (Mosaic,
# MixUp, HSV, flip) on the MOT17 half-train frames with ByteTrack's MOT17 schedule (80 epochs:
# 1 warm-up epoch, the last 10 without Mosaic / MixUp; mmdet's COCO recipe is 300 / 5 / 15),
# then run it over every frame:
#   python tools/dataset_converters/make_det_db.py detector \
#       configs/motrv2/yolox_x_proposals_mot17.py work_dirs/yolox_x_proposals_mot17/epoch_80.pth \
#       data/MOT17/annotations/train_cocoformat.json data/MOT17/train data/MOT17/det_db_yolox.json
# make_det_db keeps score > 0.05; the detector's own threshold below is lower so that nothing
# above 0.05 is lost before that filter.
_base_ = ["mmdet::yolox/yolox_x_8xb8-300e_coco.py"]

custom_imports = dict(imports=["mmdistillmot"], allow_failed_imports=False)

data_root = "data/MOT17/"
img_scale = (1440, 800)  # (w, h)
metainfo = dict(classes=("pedestrian",))

model = dict(
    bbox_head=dict(num_classes=1),
    test_cfg=dict(score_thr=0.01, nms=dict(type="nms", iou_threshold=0.7)),
    # No hub here: start from COCO YOLOX-X weights given as a local file, e.g.
    # --cfg-options model.init_cfg.type=Pretrained model.init_cfg.checkpoint=/path/yolox_x.pth
    init_cfg=None,
)

train_pipeline = [
    dict(type="Mosaic", img_scale=img_scale, pad_val=114.0, bbox_clip_border=False),
    dict(
        type="RandomAffine",
        scaling_ratio_range=(0.1, 2),
        border=(-img_scale[0] // 2, -img_scale[1] // 2),
        bbox_clip_border=False,
    ),
    dict(
        type="MixUp",
        img_scale=img_scale,
        ratio_range=(0.8, 1.6),
        pad_val=114.0,
        bbox_clip_border=False,
    ),
    dict(type="YOLOXHSVRandomAug"),
    dict(type="RandomFlip", prob=0.5),
    dict(type="Resize", scale=img_scale, keep_ratio=True, clip_object_border=False),
    dict(type="Pad", size_divisor=32, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type="FilterAnnotations", min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=img_scale, keep_ratio=True),
    dict(type="Pad", size_divisor=32, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(
        type="PackDetInputs",
        meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"),
    ),
]

# Every frame of the CocoVID file is a detection image (CocoDataset ignores the video fields).
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        type="MultiImageMixDataset",
        dataset=dict(
            _delete_=True,
            type="CocoDataset",
            data_root=data_root,
            ann_file="annotations/half-train_cocoformat.json",
            data_prefix=dict(img="train/"),
            metainfo=metainfo,
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=[
                dict(type="LoadImageFromFile"),
                dict(type="LoadAnnotations", with_bbox=True),
            ],
        ),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/half-val_cocoformat.json",
        data_prefix=dict(img="train/"),
        metainfo=metainfo,
        pipeline=test_pipeline,
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + "annotations/half-val_cocoformat.json")
test_evaluator = val_evaluator

# Schedule (a child config changing the epochs writes all of this again: a base's variables are
# not re-evaluated in its children).
max_epochs = 80
num_last_epochs = 10  # without Mosaic / MixUp (YOLOXModeSwitchHook)
warmup_epochs = 1
interval = 10  # validation and checkpoints; divides max_epochs, so epoch_80.pth is written
base_lr = 0.01
train_cfg = dict(max_epochs=max_epochs, val_interval=interval)
param_scheduler = [
    dict(
        type="mmdet.QuadraticWarmupLR",
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type="CosineAnnealingLR",
        eta_min=base_lr * 0.05,
        begin=warmup_epochs,
        T_max=max_epochs - num_last_epochs,
        end=max_epochs - num_last_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    ),
    dict(
        type="ConstantLR",
        by_epoch=True,
        factor=1,
        begin=max_epochs - num_last_epochs,
        end=max_epochs,
    ),
]
default_hooks = dict(checkpoint=dict(interval=interval, max_keep_ckpts=3))
custom_hooks = [
    dict(type="YOLOXModeSwitchHook", num_last_epochs=num_last_epochs, priority=48),
    dict(type="SyncNormHook", priority=48),
    dict(
        type="EMAHook",
        ema_type="ExpMomentumEMA",
        momentum=0.0001,
        update_buffers=True,
        priority=49,
    ),
]
