# The main setting (DINOv2 ViT-B/14, cosine, alpha 0.5, one-layer transform to the teacher)
# trained on all of MOT17 train; testing writes MOT17 test results for the benchmark server.
_base_ = ['../fairmot/fairmot_hrnetv2-w18_mot17.py', './_base_/dinov2-base_cosine_distiller.py']

# the student is the plain FairMOT config, unchanged; the distiller block is shared
model = dict(_delete_=True, student=_base_.model, **_base_.dinov2_base_distiller)

custom_hooks = [dict(type='DistillHook')]

train_dataloader = dict(batch_size=4)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=21)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=20, by_epoch=True, milestones=[20], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
