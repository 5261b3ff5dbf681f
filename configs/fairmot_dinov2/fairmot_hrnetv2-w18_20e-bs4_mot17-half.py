# The baseline row of the ablation: plain FairMOT HRNetV2-W18 under the distillation runs'
# schedule (20 epochs, batch 4, Adam lr 1e-4), so that only the distillation differs.
_base_ = ['../fairmot/fairmot_hrnetv2-w18_mot17-half.py']

train_dataloader = dict(batch_size=4)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=20, by_epoch=True, milestones=[20], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
