# The paper's main distillation setting, shared by the MOT17 half and full configs: DINOv2
# ViT-B/14 teacher from a local file, cosine loss, alpha 0.5, a one-layer transform (1x1 conv
# 270 -> 768) on the student's fused stride-4 map. A config wraps its student with
#   model = dict(_delete_=True, student=_base_.model, **_base_.dinov2_base_distiller)
# (a key of its own: mmengine refuses two bases defining the same key, and `model` is the
# FairMOT base's).
dinov2_base_distiller = dict(
    type='FeatureDistiller',
    teacher=dict(
        type='DINOv2Teacher',
        arch='base',
        weights='checkpoints/dinov2/dinov2_vitb14_pretrain.pth',
        # the student's preprocessor turns the loaded BGR frames to RGB; handing the teacher
        # RGB avoids a second flip
        channel_order='rgb',
        precision='auto'),  # bf16 (or fp16) on a GPU, fp32 on CPU
    # the 270-channel stride-4 map the FairMOT heads see: the output of HRNetUpsampleConcat
    student_taps=dict(fused_map='neck'),
    connectors=dict(
        to_teacher=dict(type='Conv1x1Connector', in_channels=270, out_channels=768)),
    distill_losses=dict(
        dinov2=dict(
            loss=dict(type='CosineDistillLoss', loss_weight=1.0),
            student='fused_map',
            student_connector='to_teacher')),
    # total = (1 - alpha) * FairMOT loss + alpha * distillation loss
    alpha=0.5)
