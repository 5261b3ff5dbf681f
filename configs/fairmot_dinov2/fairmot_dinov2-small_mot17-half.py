# Teacher-size ablation: DINOv2 ViT-S/14 (384 channels); otherwise the main setting.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(
    teacher=dict(arch='small', weights='checkpoints/dinov2/dinov2_vits14_pretrain.pth'),
    connectors=dict(to_teacher=dict(out_channels=384)))
