# VSD-MOT (Table V "+DSWR", the full method; Tables I-IV): MOTRv2 + the VSD student distilled
# from CLIP RN50 with DCSD, fused with the queries by DSWR; alpha 0.4: the published numbers
# are Table VII's alpha 0.4 rows, so this config is also that row (see _base_/vsd_modules.py).
# LQMOT / MOT mix, low:high 2:1.
_base_ = [
    "./_base_/vsd-mot_r50.py",
    "./_base_/lqmot-mot.py",
    "./_base_/schedule_60e.py",
]
