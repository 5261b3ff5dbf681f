# Table V "+DCSD": MOTRv2 + the VSD student distilled from CLIP RN50 with DCSD (equations
# 4-12), the student's output replacing the queries (no DSWR). LQDanceTrack / DanceTrack mix 2:1.
_base_ = [
    "./_base_/vsd-mot_r50.py",
    "./_base_/lqdancetrack-dancetrack.py",
    "./_base_/schedule_10e.py",
]

model = dict(student=dict(query_refiner=dict(fusion=None)))
