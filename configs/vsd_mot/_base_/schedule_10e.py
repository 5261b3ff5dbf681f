# The VSD-MOT paper's schedule for the LQDanceTrack-DanceTrack mix: 10 epochs, learning rate
# divided by 10 from epoch 5; otherwise as schedule_60e.py.
_base_ = ["./schedule_60e.py"]

max_epochs = 10
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type="MultiStepLR", begin=0, end=max_epochs, by_epoch=True, milestones=[5], gamma=0.1)
]
