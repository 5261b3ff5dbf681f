# VSD-MOT (Table V "+DSWR", the full method; Tables I-IV): MOTRv2 + the VSD student distilled
# from CLIP RN50 with DCSD, fused with the queries by DSWR; alpha 0.4 (the value of the
# published numbers, see _base_/vsd_modules.py).
# LQDanceTrack / DanceTrack mix, low:high 2:1.
_base_ = [
    "./_base_/vsd-mot_r50.py",
    "./_base_/lqdancetrack-dancetrack.py",
    "./_base_/schedule_10e.py",
]
