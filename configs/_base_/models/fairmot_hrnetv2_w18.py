# FairMOT with an HRNetV2-W18 backbone (Zhang et al., IJCV 2021; docs/reference.md "FairMOT").
# backbone: mmdet's HRNet with the hrnetv2p-w18 stages (stem + 4 Bottlenecks at 1/4, then
# 1/4/3 modules of 4 BASIC blocks, 18/36/72/144 channels).
# neck: bilinear upsample of every branch to 1/4 and concatenation (270 channels, no conv);
#   the DINOv2 distillation taps this module ('neck').
# bbox_head: hm / ltrb / offset / 128-d id branches, CenterNet targets, uncertainty weighting.
# tracker: FairMOT's two-stage JDE association.
# Images enter as RGB / 255 without mean/std (letterboxed by the pipeline).
model = dict(
    type="FairMOT",
    data_preprocessor=dict(
        type="TrackDataPreprocessor",
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],
        bgr_to_rgb=True,
        # HRNet fuses branches by x2 upsampling: the input must be divisible by 32
        # (1088x608 is). Padding comes after normalisation: 0.5 = the letterbox border 127.5/255.
        pad_size_divisor=32,
        pad_value=0.5,
    ),
    backbone=dict(
        type="HRNet",
        # mmdet's HRNet freezes BatchNorm statistics by default (norm_eval=True, meant for
        # fine-tuning); FairMOT trains them.
        norm_eval=False,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block="BOTTLENECK",
                num_blocks=(4,),
                num_channels=(64,),
            ),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block="BASIC",
                num_blocks=(4, 4),
                num_channels=(18, 36),
            ),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block="BASIC",
                num_blocks=(4, 4, 4),
                num_channels=(18, 36, 72),
            ),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block="BASIC",
                num_blocks=(4, 4, 4, 4),
                num_channels=(18, 36, 72, 144),
            ),
        ),
        # FairMOT starts from ImageNet HRNetV2-W18: the file mmdet's HRNet configs load as
        # open-mmlab://msra/hrnetv2_w18 (download.openmmlab.com/pretrain/third_party/
        # hrnetv2_w18-00eb2006.pth), saved locally; a missing file stops init_weights with its
        # path (a random-init student would make any distillation gain look larger). Another
        # location: --cfg-options model.backbone.init_cfg.checkpoint=/path/hrnetv2_w18.pth
        init_cfg=dict(
            type="Pretrained", checkpoint="checkpoints/imagenet/hrnetv2_w18-00eb2006.pth"
        ),
    ),
    neck=dict(type="HRNetUpsampleConcat", in_channels=(18, 36, 72, 144)),
    bbox_head=dict(
        type="FairMOTHead",
        # nID of the training data: set per training config (None = inference only).
        num_identities=None,
        in_channels=270,
        feat_channels=256,
        num_classes=1,
        embed_dims=128,
        stride=4,
        heatmap_bias=-2.19,
        loss_weights=dict(hm=1.0, wh=0.1, reg=1.0),
        s_det_init=-1.85,
        s_id_init=-1.05,
        min_overlap=0.7,
        max_objects=500,
        # Decoding: 3x3 peak suppression, top 500; the tracker then keeps score > 0.4.
        test_cfg=dict(topk=500, score_thr=0.01, local_maximum_kernel=3),
    ),
    tracker=dict(
        type="JDETracker",
        motion=dict(type="KalmanFilter"),
        obj_score_thr=0.4,
        embedding_momentum=0.9,
        appearance_weight=0.98,
        appearance_match_thr=0.4,
        iou_match_thr=0.5,
        unconfirmed_match_thr=0.7,
        frame_rate=30,
        track_buffer=30,
        min_box_area=100,
        max_aspect_ratio=1.6,
    ),
)
