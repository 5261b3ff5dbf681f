# Direction ablation: adapt the teacher to the student. The 768-channel patch map is
# upsampled to the student's 1/4 grid and a 1x1 conv maps it to 270 channels; the cosine loss
# then compares maps on the student's grid (the connector trains, the teacher stays frozen).
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(
    connectors=dict(
        _delete_=True,
        to_student=dict(type='Conv1x1Connector', in_channels=768, out_channels=270)),
    distill_losses=dict(
        _delete_=True,
        dinov2=dict(
            loss=dict(type='CosineDistillLoss', loss_weight=1.0),
            student='fused_map',
            teacher_connector='to_student')))
