# TDT's joint model (Sec. 3.2 and 4.2): RetinaNet, ResNet-34 FPN on levels P3-P7, three anchor
# scales and three aspect ratios, class and box subnets of four 128-channel convs, plus the
# embedder head (two 3x3 convs, 256 channels between, BatchNorm in between) predicting a
# D_s-dim embedding per anchor; association by FairMOT's JDETracker.
#
# Losses (Sec. 3.4 and 4.2): focal loss alpha 0.25, gamma 1.5, weight 1; Huber loss with
# delta 0.1, weight 50; L2 embedding loss, weight 10. The Huber delta and weight are the TF
# Object Detection API's RetinaNet defaults, where the box loss is Huber(delta) summed over the
# 4 coordinates and the positive anchors and divided by 4 x num_pos (normalized by the number
# of matches and, with normalize_loc_loss_by_codesize, by the box code size 4).
# mmdet's SmoothL1Loss(beta) is Huber(delta=beta) / beta (0.5 x^2 / beta below beta,
# |x| - beta / 2 above), summed the same way but divided by num_pos only (RetinaHead's
# avg_factor with the PseudoSampler). So 50 x Huber_0.1 / (4 num_pos) =
# 50 x 0.1 / 4 x SmoothL1_0.1 / num_pos: SmoothL1Loss(beta=0.1) with weight 1.25 (weight 5
# would be 4x the paper's box loss).
#
# Ignore regions: the assigner ignores anchors whose IoF with an ignore box (iscrowd=1, e.g.
# CrowdHuman's 'mask' regions, packed as data_samples.ignored_instances) exceeds 0.5; they are
# neither positive nor negative (label weight 0). 0.5 is mmdet's usual value for crowd boxes
# (e.g. its MaxIoUAssigner tests); the paper's TF API does not ignore anchors and CrowdHuman's
# docs give no threshold. With -1 (mmdet's default) those regions would be trained as background.
#
# Aspect ratios: the paper (TF Object Detection API) gives width/height 0.25, 0.5, 1.0 for
# pedestrians; mmdet's AnchorGenerator takes height/width, hence ratios 4.0, 2.0, 1.0.
model = dict(
    type='TDT',
    data_preprocessor=dict(
        type='TrackDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=128,
        # detection batches in training, one video at a time in testing (as mmdet's ByteTrack)
        use_det_processor=True),
    detector=dict(
        type='RetinaNet',
        backbone=dict(
            type='ResNet',
            depth=34,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            frozen_stages=1,
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=True,
            style='pytorch',
            # ImageNet weights from a local file, e.g.
            # --cfg-options model.detector.backbone.init_cfg.checkpoint=/path/resnet34.pth
            init_cfg=None),
        neck=dict(
            type='FPN',
            in_channels=[64, 128, 256, 512],
            out_channels=256,
            start_level=1,
            add_extra_convs='on_input',
            num_outs=5),
        bbox_head=dict(
            type='RetinaEmbedHead',
            num_classes=1,
            in_channels=256,
            stacked_convs=4,
            feat_channels=128,
            embed_dim=128,
            embed_feat_channels=256,
            loss_embed_weight=10.0,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[4.0, 2.0, 1.0],
                strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[.0, .0, .0, .0],
                target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(
                type='FocalLoss', use_sigmoid=True, gamma=1.5, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=0.1, loss_weight=1.25)),
        train_cfg=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=0.5),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        # Sec. 3.2: NMS 0.5, at most 100 boxes, scores >= 0.05 (crowded MOT20 frames can hold
        # more people: FairMOT keeps 500; raise max_per_img there, see the MOT20 config)
        test_cfg=dict(
            nms_pre=1000,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100)),
    # FairMOT's association (TDT Sec. 3.5). Both thresholds are FairMOT's values for FairMOT's
    # own scores and embeddings; TDT says it had to re-tune the matching distance for OSNet-space
    # embeddings and gives no value. Sweep them on a validation set for a new detector/teacher:
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
