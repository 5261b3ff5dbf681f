# Teacher-size ablation: DINOv2 ViT-L/14 (1024 channels); otherwise the main setting.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(
    teacher=dict(arch='large', weights='checkpoints/dinov2/dinov2_vitl14_pretrain.pth'),
    connectors=dict(to_teacher=dict(out_channels=1024)))
