# The MOTRv2 baseline of Tables I-II with the paper's recipe: MOTRv2 (ResNet-50) on the
# LQDanceTrack / DanceTrack 2:1 mix jointly with CrowdHuman train + val (section IV-C), the
# same data recipe as vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1_crowdhuman-joint.py.
# CrowdHuman images become 5-frame pseudo clips with the videos' clip augmentation and are
# not degraded. Everything else as motrv2_r50_lqdancetrack-dancetrack-2to1.py (10 epochs,
# drop at 5).
_base_ = [
    "./motrv2_r50_lqdancetrack-dancetrack-2to1.py",
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
