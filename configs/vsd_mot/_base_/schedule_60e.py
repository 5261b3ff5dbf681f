# MOTRv2's optimisation as the VSD-MOT paper runs it on the LQMOT-MOT mix: 60 epochs, learning
# rate 2e-4 divided by 10 from epoch 40; AdamW (backbone x0.1, the deformable-attention
# sampling offsets x0.1, as MOTRv2), weight decay 1e-4, gradient clip 0.1, one 5-frame clip
# per GPU on 8 GPUs.
_base_ = ["../../_base_/default_runtime.py"]

max_epochs = 60
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type="ValLoop")
test_cfg = dict(type="TestLoop")

optim_wrapper = dict(
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(
        custom_keys=dict(
            backbone=dict(lr_mult=0.1),
            sampling_offsets=dict(lr_mult=0.1),
            reference_points=dict(lr_mult=0.1),
        )
    ),
)
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)
]
# Reference batch: 8 GPUs x 1 clip; --auto-scale-lr rescales for other setups.
auto_scale_lr = dict(enable=False, base_batch_size=8)

default_hooks = dict(visualization=dict(type="TrackVisualizationHook", draw=False))
visualizer = dict(
    type="TrackLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")], name="visualizer"
)
