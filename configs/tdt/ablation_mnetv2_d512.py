# TDT Tab. 5, "MNet": the MobileNet backbone without the FPN's feature fusion. Each of the
# stride-8/16/32 stages is mapped to 256 channels by its own 1x1 conv (no top-down pathway, no
# 3x3 smoothing), and P6, P7 come from stride-2 3x3 convs on C5 and on P6, so the heads see the
# same five levels as with the FPN (mmdet's ChannelMapper). MobileNetV2 stands in for the paper's
# MobileNet (v1), see ablation_mnetv2-fpn_d512.py.
_base_ = ["./ablation_mnetv2-fpn_d512.py"]
model = dict(
    detector=dict(
        neck=dict(
            _delete_=True,
            type="ChannelMapper",
            in_channels=[32, 96, 320],
            out_channels=256,
            kernel_size=1,
            norm_cfg=None,
            act_cfg=None,
            num_outs=5,
        )
    )
)
