# Alpha ablation: total = 0.75 * FairMOT loss + 0.25 * distillation loss.
_base_ = ['./fairmot_dinov2-base_mot17-half.py']

model = dict(alpha=0.25)
