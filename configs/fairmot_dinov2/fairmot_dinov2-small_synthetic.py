# FairMOT HRNetV2-W18 distilled from DINOv2 ViT-S/14 on the synthetic dataset, for CPU runs:
# the paper's main recipe (cosine embedding loss, alpha 0.5, a one-layer transform adapting the
# student to the teacher: 1x1 conv 270 -> 384 + bilinear resize to the teacher's 1/14 grid) on
# the synthetic FairMOT config (320x192 letterbox, 12 epochs, batch 4, Adam lr 1e-4).
# Small instead of the paper's Base so that a run fits the 2-core CPU machine; the Base variant
# is fairmot_dinov2-base_synthetic.py.
#
# The teacher sees the 320x192 letterboxed frames resized to 322x196: a 23x14 patch grid.
# Its weights are the local DINOv2 file below. No DINOv2 weights exist on the project's CPU
# machine: the measured run in README.md passed
#   --cfg-options model.teacher.weights=None model.teacher.allow_random_init=True
# i.e. a RANDOM-INIT teacher (see README.md for what that run does and does not show).
_base_ = ['../fairmot/fairmot_hrnetv2-w18_synthetic.py']

model = dict(
    _delete_=True,
    type='FeatureDistiller',
    student={{_base_.model}},
    teacher=dict(
        type='DINOv2Teacher',
        arch='small',
        weights='checkpoints/dinov2/dinov2_vits14_pretrain.pth',
        channel_order='rgb',  # the student's preprocessor already turned the BGR frames to RGB
        precision='auto'),
    student_taps=dict(fused_map='neck'),  # the 270-channel stride-4 input of the heads
    connectors=dict(
        to_teacher=dict(type='Conv1x1Connector', in_channels=270, out_channels=384)),
    distill_losses=dict(
        dinov2=dict(
            loss=dict(type='CosineDistillLoss', loss_weight=1.0),
            student='fused_map',
            student_connector='to_teacher')),
    # total = (1 - alpha) * FairMOT loss + alpha * distillation loss
    alpha=0.5)

# frozen eval teacher, student-only checkpoints, alpha / similarity logging
custom_hooks = [dict(type='DistillHook')]
