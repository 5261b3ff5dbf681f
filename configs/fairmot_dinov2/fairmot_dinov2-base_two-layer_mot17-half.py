# Transform ablation: the two-layer transform on the student side (1x1 conv + BN + ReLU,
# 3x3 conv + BN + ReLU, 270 -> 768 channels), then the bilinear resize to the teacher grid.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(
    connectors=dict(
        to_teacher=dict(
            _delete_=True,
            type='TwoLayerConvConnector',
            in_channels=270,
            out_channels=768,
            resize='after')))
