# TDT's one-stage tracker on YOLOX-Nano (TDT says the embedder works on any detector; the paper
# uses RetinaNet): mmdet's YOLOX-Nano, exactly the model of configs/yolox/yolox_nano_416_coco-onnx.py
# (CSPDarknet depth 0.33 / width 0.25, depthwise; YOLOXPAFPN 64 channels; YOLOXHead, 64-channel
# branches of two convs per level; BN eps 1e-3, Swish) with one class and YOLOXEmbedHead's
# embedder beside the class and box branches: per level two depthwise ConvModules of 64
# channels, then a 1x1 conv to D_s (the same layout as YOLOX's own per-level branches; see
# mmdistillmot/models/dense_heads/yolox_embed_head.py). SimOTA assigns; the embedding loss
# (TDT Eq. 1, weight 10) trains YOLOX's positives; association by FairMOT's JDETracker.
#
# Weights: the COCO YOLOX-Nano converted from Megvii's ONNX export, class predictors cut to the
# person row (the one class; YOLOX scores each class by its own row x objectness, so the cut
# model scores persons exactly as the 80-class one):
#   python tools/model_converters/yolox_nano_onnx_to_mmdet.py \
#       ../shared/assets/weights/yolox_nano.onnx checkpoints/yolox/yolox_nano_coco_onnx.pth
#   python tools/model_converters/yolox_keep_classes.py checkpoints/yolox/yolox_nano_coco_onnx.pth \
#       checkpoints/yolox/yolox_nano_person_onnx.pth --classes person
# Everything but the new embedder loads from it (the embedder's keys are reported missing);
# another file: --cfg-options model.detector.init_cfg.checkpoint=PATH.
#
# Folded BatchNorm: every BN of the converted file is neutral (weight 1, bias = the fused conv
# bias, running mean 0, var 1 - eps), exact only when normalising by those running statistics.
# In training mode a BN normalises by batch statistics instead (another network), and mmdet's
# YOLOXPAFPN / YOLOXHead have no norm_eval. So the converted parts (backbone, neck with the
# head's stems, class / box branches) use FrozenStatsBN: a BatchNorm2d that always normalises by
# its running statistics, never updates them, and keeps weight / bias trainable; train-mode
# outputs equal eval-mode ones. The new embedder, randomly initialised, uses plain BN (its own
# statistics per level). Training from scratch instead (no checkpoint), give backbone, neck and
# bbox_head norm_cfg=dict(type='BN', momentum=0.03, eps=0.001) (YOLOX's) in the config.
#
# Input as the ONNX export (and mmdet's YOLOX): BGR 0-255, no mean / std, padded with 114.
#
# The variables are prefixed (tdt_yolox_nano_...) and the model is not called `model`, so that a
# config can take this file as a base beside another model config (e.g. the RetinaNet TDT
# training config, for its data) and pick it:
#   model = dict(_delete_=True, **_base_.tdt_yolox_nano_model)
tdt_yolox_nano_frozen_bn = dict(type='FrozenStatsBN', eps=0.001)
tdt_yolox_nano_checkpoint = 'checkpoints/yolox/yolox_nano_person_onnx.pth'

tdt_yolox_nano_model = dict(
    type='TDT',
    data_preprocessor=dict(
        type='TrackDataPreprocessor',
        bgr_to_rgb=False,
        pad_size_divisor=32,
        pad_value=114,
        # detection batches in training, one video at a time in testing (as mmdet's ByteTrack)
        use_det_processor=True),
    detector=dict(
        type='YOLOX',
        backbone=dict(
            type='CSPDarknet',
            deepen_factor=0.33,
            widen_factor=0.25,
            out_indices=(2, 3, 4),
            use_depthwise=True,
            spp_kernal_sizes=(5, 9, 13),
            norm_cfg=tdt_yolox_nano_frozen_bn,
            act_cfg=dict(type='Swish')),
        neck=dict(
            type='YOLOXPAFPN',
            in_channels=[64, 128, 256],
            out_channels=64,
            num_csp_blocks=1,
            use_depthwise=True,
            upsample_cfg=dict(scale_factor=2, mode='nearest'),
            norm_cfg=tdt_yolox_nano_frozen_bn,
            act_cfg=dict(type='Swish')),
        bbox_head=dict(
            type='YOLOXEmbedHead',
            num_classes=1,
            in_channels=64,
            feat_channels=64,
            stacked_convs=2,
            strides=(8, 16, 32),
            use_depthwise=True,
            norm_cfg=tdt_yolox_nano_frozen_bn,
            act_cfg=dict(type='Swish'),
            embed_dim=128,
            embed_feat_channels=64,
            embed_norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
            loss_embed_weight=10.0,
            # YOLOX's own losses, unchanged (mmdet's yolox_s_8xb8-300e_coco.py)
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=True, reduction='sum', loss_weight=1.0),
            loss_bbox=dict(
                type='IoULoss', mode='square', eps=1e-16, reduction='sum', loss_weight=5.0),
            loss_obj=dict(
                type='CrossEntropyLoss', use_sigmoid=True, reduction='sum', loss_weight=1.0),
            loss_l1=dict(type='L1Loss', reduction='sum', loss_weight=1.0)),
        train_cfg=dict(assigner=dict(type='SimOTAAssigner', center_radius=2.5)),
        # YOLOX's test threshold and NMS (mmdet); max_per_img is YOLOXEmbedHead's (YOLOX has
        # no cap), TDT's 100 boxes a frame
        test_cfg=dict(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.65), max_per_img=100),
        init_cfg=dict(type='Pretrained', checkpoint=tdt_yolox_nano_checkpoint)),
    # FairMOT's association with FairMOT's thresholds (as the RetinaNet TDT configs). YOLOX's
    # scores (person x objectness) are not RetinaNet's: sweep them for this detector,
    #   python tools/analysis/mot_param_search.py CONFIG CKPT \
    #       --param model.tracker.obj_score_thr=0.3,0.4,0.5 \
    #       --param model.tracker.appearance_match_thr=0.3,0.4,0.5
    tracker=dict(
        type='JDETracker',
        obj_score_thr=0.4,
        appearance_match_thr=0.4,
        iou_match_thr=0.5,
        frame_rate=30,
        track_buffer=30))
