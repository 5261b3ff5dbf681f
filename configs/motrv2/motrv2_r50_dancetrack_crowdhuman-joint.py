# MOTRv2 (ResNet-50) on DanceTrack train jointly with CrowdHuman train + val, as the public
# MOTRv2 DanceTrack recipe: every DanceTrack frame starts one 5-frame clip per epoch and every
# CrowdHuman image gives one 5-frame pseudo clip (constant pan-and-zoom, see
# ../_base_/datasets/crowdhuman_motrv2_pseudo_clip.py); the two are concatenated and shuffled
# together. Model, optimisation and testing as motrv2_r50_dancetrack.py.
_base_ = [
    "./motrv2_r50_dancetrack.py",
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
