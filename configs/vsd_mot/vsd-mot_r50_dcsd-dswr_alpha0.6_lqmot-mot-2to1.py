# Table VII: VSD-MOT with alpha = 0.6; loss = alpha * L_distill + (1 - alpha) * L_mot.
# (the 0.4 row is vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py itself)
_base_ = ["./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py"]

model = dict(alpha=0.6)
