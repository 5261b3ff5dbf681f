# Table V "+CLIP distillation": MOTRv2 + the VSD student, distilled from CLIP RN50 with a plain
# loss (the teacher projection and alignment of DCSD, then MSE(S, T_align): no attention, no
# global term), the student's output replacing the queries (no DSWR). LQDanceTrack / DanceTrack mix 2:1.
_base_ = [
    "./_base_/vsd-mot_r50.py",
    "./_base_/lqdancetrack-dancetrack.py",
    "./_base_/schedule_10e.py",
]

model = dict(
    student=dict(query_refiner=dict(fusion=None)),
    distill_loss=dict(dual_constraint=False),
)
