# MOTRv2 with ResNet-50 (the baseline of VSD-MOT); settings from the public reference code
# (see ../shared/docs/reference.md, "MOTRv2"): frozen BN, layer2-4 trainable, strides
# 8/16/32 + an extra stride-64 level (1x1 conv + GN(32) projections), deformable transformer
# 6 + 6 layers, d_model 256, FFN 1024, 8 heads, 4 levels, 4 points, 10 detect queries,
# query denoise 0.05, QIMv2, ClipMatcher (class 2, L1 5, GIoU 2), runtime tracker 0.5 / 20.
embed_dims = 256
num_levels = 4

model = dict(
    type="MOTRv2",
    data_preprocessor=dict(
        type="TrackDataPreprocessor",
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1,
    ),
    backbone=dict(
        type="ResNet",
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type="BN", requires_grad=False),
        norm_eval=True,
        style="pytorch",
        # The whole model (backbone included) starts from the COCO Deformable DETR checkpoint
        # of `load_from` below, as MOTRv2 does; nothing is initialised from a hub.
        init_cfg=None,
    ),
    neck=dict(
        type="ChannelMapper",
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=dict(type="GN", num_groups=32),
        # Deformable DETR's / MOTRv2's input projections are Conv2d (with bias) + GroupNorm;
        # ConvModule's 'auto' would drop the bias before a norm layer.
        bias=True,
        num_outs=num_levels,
    ),
    positional_encoding=dict(num_feats=embed_dims // 2, normalize=True, offset=-0.5),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims,
                num_heads=8,
                num_levels=num_levels,
                num_points=4,
                batch_first=True,
                dropout=0.0,
            ),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024, ffn_drop=0.0),
        ),
    ),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0, batch_first=True),
            cross_attn_cfg=dict(
                embed_dims=embed_dims,
                num_heads=8,
                num_levels=num_levels,
                num_points=4,
                batch_first=True,
                dropout=0.0,
            ),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024, ffn_drop=0.0),
        ),
    ),
    num_queries=10,
    num_classes=1,
    num_feature_levels=num_levels,
    query_denoise=0.05,
    # Hook for VSD-MOT: a module (query_feats=[B, N, 256], frame=[B, 3, H, W]) -> [B, N, 256]
    # applied to the last decoder layer's queries before the heads and QIM.
    query_refiner=None,
    qim=dict(
        type="QIMv2",
        embed_dims=embed_dims,
        num_heads=8,
        feedforward_channels=1024,
        dropout=0.0,
        score_thr=0.5,
        train_iou_thr=0.5,
    ),
    criterion=dict(
        type="ClipMatcher",
        num_classes=1,
        assigner=dict(
            type="HungarianAssigner",
            match_costs=[
                dict(type="FocalLossCost", weight=2.0),
                dict(type="BBoxL1Cost", weight=5.0, box_format="xywh"),
                dict(type="IoUCost", iou_mode="giou", weight=2.0),
            ],
        ),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type="L1Loss", loss_weight=5.0),
        loss_iou=dict(type="GIoULoss", loss_weight=2.0),
    ),
    tracker=dict(
        type="MOTRTracker",
        init_score_thr=0.5,
        keep_score_thr=0.5,
        miss_tolerance=20,
        output_score_thr=0.5,
        min_area=100,
    ),
)

# DDP: a step can leave parameters without a gradient (QIM when no track survives), so DDP
# must look for unused ones.
find_unused_parameters = True

# The weights to start from (COCO Deformable DETR, converted) are the top-level configs'
# `load_from` (default_runtime.py owns that key): see ../../motrv2/motrv2_r50_mot17.py.
