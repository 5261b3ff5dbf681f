# A small RetinaNet (ResNet-18 FPN) pedestrian detector on the embedded synthetic dataset.
# The smallest real training config of the project: the foundation tests train and resume it,
# and the demo's IoU-only baseline tracker starts from a detector of this shape.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/synthetic_mot_det.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(
        depth=18,
        # No hub is reachable here: ImageNet weights come from a local file when given,
        # e.g. --cfg-options model.backbone.init_cfg.checkpoint=/path/resnet18.pth
        init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512]),
    bbox_head=dict(num_classes=1))

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=12)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))

# The learning rate above is for 1 GPU x 4 images; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=4)
