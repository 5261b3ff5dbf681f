# VSD-MOT (the full method: CLIP RN50 teacher, DCSD, DSWR; alpha 0.4) on the LQMOT / MOT 2:1
# mix jointly with CrowdHuman val only, as the VSD-MOT paper trains it (section IV-C: "for the
# LQMOT-MOT mixed set, joint training only leveraged the validation set of CrowdHuman").
# CrowdHuman images become 5-frame pseudo clips
# (../_base_/datasets/crowdhuman_motrv2_pseudo_clip.py) with the same clip augmentation as
# the videos (MOTRv2's flip, resize / crop branch and HSV jitter), and are not degraded.
# Everything else as vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py (60 epochs, drop at 40).
_base_ = [
    "./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py",
    "../_base_/datasets/crowdhuman_motrv2_pseudo_clip.py",
]

train_dataloader = dict(
    sampler=dict(_delete_=True, type="DefaultSampler", shuffle=True),
    dataset=dict(
        _delete_=True,
        type="ConcatDataset",
        ignore_keys=["palette"],  # CocoDataset has a palette, MOTChallengeDataset none
        datasets=[dict(type="VideoFramesDataset", dataset=_base_.train_dataloader.dataset)]
        + _base_.crowdhuman_clip_val,
    ),
)
