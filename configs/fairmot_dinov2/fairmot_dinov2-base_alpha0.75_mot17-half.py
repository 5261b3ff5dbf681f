# Alpha ablation: total = 0.25 * FairMOT loss + 0.75 * distillation loss.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(alpha=0.75)
