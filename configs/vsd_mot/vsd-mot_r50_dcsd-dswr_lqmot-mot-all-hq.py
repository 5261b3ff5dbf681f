# Table VI: VSD-MOT trained on the LQMOT-MOT training data all high quality (MOT only)
# (the 2:1 row is vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py).
_base_ = ["./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py"]

train_dataloader = dict(dataset=dict(ann_file="annotations/train_hq_cocoformat.json"))
