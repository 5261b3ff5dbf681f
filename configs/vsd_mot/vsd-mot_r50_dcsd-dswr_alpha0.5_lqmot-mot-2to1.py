# VSD-MOT with alpha = 0.5, the value section IV-F's text calls best; loss = alpha * L_distill
# + (1 - alpha) * L_mot. Not a row of Table VII (0.2 / 0.4 / 0.6): the main config
# vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py uses 0.4, whose Table VII rows are the published
# numbers (see ./_base_/vsd_modules.py); Table VII's 0.4 row is that main config.
_base_ = ["./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py"]

model = dict(alpha=0.5)
