# Table VII: VSD-MOT with alpha = 0.4 (the row Table VII marks best; the text says 0.5, the default); loss = alpha * L_distill + (1 - alpha) * L_mot.
_base_ = ["./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py"]

model = dict(alpha=0.4)
