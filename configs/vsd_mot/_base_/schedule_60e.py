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

# MOTRv2 starts from the COCO Deformable DETR with iterative box refinement (its --pretrained
# r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth): ResNet-50, input
# projections, level embedding, the 6 + 6 transformer layers and the per-layer class (person
# row) and box heads; the rest (queries, proposal embedding, QIM) starts at its init. Convert
# that file once into this model's layout:
#   python tools/model_converters/deformable_detr_to_motrv2.py \
#       r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth \
#       checkpoints/pretrained/motrv2_r50_deformable_detr_coco.pth
# Training stops at its start ("... can not be found", mmengine's loader) when it is absent.
load_from = "checkpoints/pretrained/motrv2_r50_deformable_detr_coco.pth"
