# The main setting (DINOv2 ViT-B/14, cosine, alpha 0.5, one-layer transform to the teacher)
# trained on all of MOT17 train; testing writes MOT17 test results for the benchmark server.
_base_ = ['../fairmot/fairmot_hrnetv2-w18_mot17.py']

model = dict(
    _delete_=True,
    type='FeatureDistiller',
    student={{_base_.model}},
    teacher=dict(
        type='DINOv2Teacher',
        arch='base',
        weights='checkpoints/dinov2/dinov2_vitb14_pretrain.pth',
        channel_order='rgb',
        precision='auto'),
    student_taps=dict(fused_map='neck'),
    connectors=dict(
        to_teacher=dict(type='Conv1x1Connector', in_channels=270, out_channels=768)),
    distill_losses=dict(
        dinov2=dict(
            loss=dict(type='CosineDistillLoss', loss_weight=1.0),
            student='fused_map',
            student_connector='to_teacher')),
    alpha=0.5)

custom_hooks = [dict(type='DistillHook')]

train_dataloader = dict(batch_size=4)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=21)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=20, by_epoch=True, milestones=[20], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
