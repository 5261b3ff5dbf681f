# The paper's main setting on the synthetic dataset: DINOv2 ViT-B/14 teacher (768 channels),
# cosine loss, alpha 0.5, one-layer transform adapting the student to the teacher. Otherwise the
# same as fairmot_dinov2-small_synthetic.py (its teacher-size variant).
_base_ = ['./fairmot_dinov2-small_synthetic.py']

model = dict(
    teacher=dict(arch='base', weights='checkpoints/dinov2/dinov2_vitb14_pretrain.pth'),
    connectors=dict(to_teacher=dict(out_channels=768)))
