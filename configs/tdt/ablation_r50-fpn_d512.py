# TDT Tab. 5, "RNet50-FPN": ResNet-50 FPN P3-P7; everything else as ablation_r34-fpn_d512.py.
_base_ = ["./ablation_r34-fpn_d512.py"]
model = dict(
    detector=dict(
        backbone=dict(
            depth=50,
            # ImageNet weights (torchvision's resnet50-19c8e357.pth, saved locally)
            init_cfg=dict(
                type="Pretrained", checkpoint="checkpoints/imagenet/resnet50-19c8e357.pth"
            ),
        ),
        neck=dict(in_channels=[256, 512, 1024, 2048]),
    )
)
