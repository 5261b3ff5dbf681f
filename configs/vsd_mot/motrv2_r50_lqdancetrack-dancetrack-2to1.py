# Table V baseline: MOTRv2 (ResNet-50) trained on the LQDanceTrack / DanceTrack mix (low:high 2:1) with the
# VSD-MOT paper's schedule; evaluated on the low-quality validation set (see the dataset base
# for the high-quality one).
_base_ = [
    "../_base_/models/motrv2_r50.py",
    "./_base_/lqdancetrack-dancetrack.py",
    "./_base_/schedule_10e.py",
]
