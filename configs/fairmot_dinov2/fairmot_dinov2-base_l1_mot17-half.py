# Loss ablation: mean absolute error instead of the cosine embedding loss.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(distill_losses=dict(dinov2=dict(loss=dict(_delete_=True, type='L1DistillLoss'))))
