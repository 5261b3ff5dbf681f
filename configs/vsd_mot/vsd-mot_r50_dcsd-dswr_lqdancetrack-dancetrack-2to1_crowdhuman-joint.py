# VSD-MOT (the full method: CLIP RN50 teacher, DCSD, DSWR; alpha 0.4) on the LQDanceTrack /
# DanceTrack 2:1 mix jointly with CrowdHuman train + val, as the VSD-MOT paper trains it
# (section IV-C: "when training on the LQDanceTrack-DanceTrack mixed set, joint training was
# performed using both the train and validation sets of CrowdHuman"). CrowdHuman images become
# 5-frame pseudo clips (../_base_/datasets/crowdhuman_motrv2_pseudo_clip.py) and are not
# degraded (the paper does not say it degrades them). Everything else as
# vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1.py (10 epochs, drop at 5).
_base_ = [
    "./vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1.py",
    "../_base_/datasets/crowdhuman_motrv2_pseudo_clip.py",
]

train_dataloader = dict(
    # TrackImgSampler cannot index a ConcatDataset; VideoFramesDataset makes the videos
    # per-frame so that the DefaultSampler draws every video frame and every image once.
    sampler=dict(_delete_=True, type="DefaultSampler", shuffle=True),
    dataset=dict(
        _delete_=True,
        type="ConcatDataset",
        ignore_keys=["palette"],  # CocoDataset has a palette, MOTChallengeDataset none
        datasets=[dict(type="VideoFramesDataset", dataset=_base_.train_dataloader.dataset)]
        + _base_.crowdhuman_clip_trainval,
    ),
)
