# Worked example of docs/distillation.md: online feature distillation of the small RetinaNet
# baseline (configs/baselines/retinanet_r18_fpn_1x_synthetic.py) from a frozen DINOv2 ViT-S/14.
#
# Student: the baseline config, unchanged; its checkpoints from this run load into it.
# Tap:     FPN level P3 (stride 8, 256 channels): the first item of the neck's output tuple.
# Teacher: DINOv2 ViT-S/14 patch tokens [B, 384, H/14, W/14] of the raw frames (the teacher
#          inverts the student's normalisation and applies its own ImageNet mean/std).
# Connector: 1x1 conv 256 -> 384, bilinear resize of the stride-8 map onto the 1/14 patch grid.
# Loss:    cosine embedding loss on per-sample flattened maps; total = 0.5 * L_det + 0.5 * L_kd.
#
# Weights: put DINOv2's ViT-S/14 file (original release dinov2_vits14_pretrain.pth, or timm's
# vit_small_patch14_dinov2.lvd142m) at the path below, or pass model.teacher.weights=PATH.
# Smoke run without weights (random teacher, tests only): see configs/examples/README.md.
_base_ = ['../baselines/retinanet_r18_fpn_1x_synthetic.py']

model = dict(
    _delete_=True,
    type='FeatureDistiller',
    student={{_base_.model}},
    teacher=dict(
        type='DINOv2Teacher',
        arch='small',
        weights='checkpoints/dinov2/dinov2_vits14_pretrain.pth',
        # RetinaNet's preprocessor turns the loaded BGR frames to RGB; handing the teacher RGB
        # avoids a second flip
        channel_order='rgb',
        precision='auto'),  # bf16 (or fp16) on a GPU, fp32 on CPU
    # mmdet's FPN returns a tuple (P3, ..., P7); index 0 is P3, [B, 256, H/8, W/8]
    student_taps=dict(p3=dict(module='neck', index=0)),
    connectors=dict(
        p3_to_teacher=dict(type='Conv1x1Connector', in_channels=256, out_channels=384)),
    distill_losses=dict(
        dinov2=dict(
            loss=dict(type='CosineDistillLoss', loss_weight=1.0),
            student='p3',
            student_connector='p3_to_teacher')),
    alpha=0.5)

# keeps the teacher frozen and in eval mode, writes student-only checkpoints, logs
# train/distill_cos_sim_dinov2 and train/distill_alpha
custom_hooks = [dict(type='DistillHook')]
