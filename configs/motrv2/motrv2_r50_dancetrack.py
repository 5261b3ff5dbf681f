# MOTRv2 (ResNet-50) on DanceTrack train / val with YOLOX proposals. Same model and
# optimisation as the MOT17 config (the public MOTRv2 DanceTrack recipe: 5 epochs, drop at 4;
# the reference run also mixes CrowdHuman images, which this config does not).
_base_ = [
    "../_base_/models/motrv2_r50.py",
    "../_base_/datasets/dancetrack_motrv2.py",
    "../_base_/default_runtime.py",
]

max_epochs = 5
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
    dict(type="MultiStepLR", begin=0, end=max_epochs, by_epoch=True, milestones=[4], gamma=0.1)
]
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
