# Table V No. 1 / 5 and the MOTRv2 baseline of Tables III-IV with the paper's recipe: MOTRv2
# (ResNet-50) on the LQMOT / MOT 2:1 mix jointly with CrowdHuman val only (section IV-C: "for
# the LQMOT-MOT mixed set, joint training only leveraged the validation set of CrowdHuman"),
# the same data recipe as vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1_crowdhuman-joint.py, so the
# rows compare like with like. CrowdHuman images become 5-frame pseudo clips with the videos'
# clip augmentation and are not degraded. Everything else as motrv2_r50_lqmot-mot-2to1.py
# (60 epochs, drop at 40).
_base_ = [
    "./motrv2_r50_lqmot-mot-2to1.py",
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
        + _base_.crowdhuman_clip_val,
    ),
)
