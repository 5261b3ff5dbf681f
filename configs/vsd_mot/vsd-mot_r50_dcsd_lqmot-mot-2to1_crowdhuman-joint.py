# Table V No. 3 / 7 ("+DCSD", no DSWR; alpha 0.4) with the paper's recipe: the LQMOT / MOT
# 2:1 mix jointly with CrowdHuman val only (section IV-C), as the other Table V rows'
# *_crowdhuman-joint.py configs. Everything else as vsd-mot_r50_dcsd_lqmot-mot-2to1.py.
_base_ = [
    "./vsd-mot_r50_dcsd_lqmot-mot-2to1.py",
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
