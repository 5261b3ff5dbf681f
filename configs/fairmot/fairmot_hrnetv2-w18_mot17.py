# FairMOT HRNetV2-W18 trained on all of MOT17 train; testing writes MOT17 test results in
# MOTChallenge format for the benchmark server (no local ground truth).
_base_ = [
    "../_base_/models/fairmot_hrnetv2_w18.py",
    "../_base_/datasets/mot17_fairmot.py",
    "../_base_/default_runtime.py",
]

# The identity classifier needs nID of the training annotations: the 'num_instances' entry
# that mmdet's mot2coco.py writes into annotations/train_cocoformat.json (and prints). It depends on
# the conversion, so it is not guessed here; pass it with
#   --cfg-options model.bbox_head.num_identities=N
# Without it the model still builds, tests and tracks; training stops with this instruction.

# No validation during training: the test split has no ground truth.
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=30, val_interval=31)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")

optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-4))
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=30, by_epoch=True, milestones=[20], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=12)

default_hooks = dict(
    checkpoint=dict(type="CheckpointHook", interval=5, max_keep_ckpts=3),
    visualization=dict(type="TrackVisualizationHook", draw=False),
)
visualizer = dict(
    type="TrackLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer"
)
