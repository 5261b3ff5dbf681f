# MOTRv2 on the low-quality version of the embedded synthetic dataset: every training and
# validation frame goes through the Real-ESRGAN degradation (output scale 1), each frame with
# its own parameters as the VSD-MOT authors built LQDanceTrack / LQMOT, drawn from a fixed seed
# (seed, sequence, frame), so each epoch sees the same low-quality frames, as from an offline
# set. The proposals are the generator's det.txt (not detected on the images), so degrading the
# frames online does not change them. Compare with vsd-mot_r50_dcsd-dswr_synthetic-lq.py.
_base_ = ["../motrv2/motrv2_r50_synthetic.py"]

data_root = "data/synthetic_mot/"
det_db = data_root + "det_db.json"
train_scales = [(768, short) for short in range(288, 417, 32)]
test_scale = (768, 352)
degradation = dict(type="RealESRGANDegradation", severity=1.0, consistency="per_frame", seed=0)

train_pipeline = [
    dict(type="MOTRClipSample", num_frames=5, min_step=1, max_step=11),
    # per-frame degradation parameters: a broadcaster that does not share its draws ...
    dict(
        type="TransformBroadcaster",
        share_random_params=False,
        transforms=[dict(type="LoadImageFromFile"), degradation],
    ),
    # ... then the clip-consistent augmentation
    dict(
        type="TransformBroadcaster",
        share_random_params=True,
        transforms=[
            dict(type="LoadTrackAnnotations"),
            dict(type="RandomFlip", prob=0.5),
            dict(type="RandomChoiceResize", scales=train_scales, keep_ratio=True),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals", "frame_stride", "fps")),
]
test_pipeline = [
    dict(
        type="TransformBroadcaster",
        transforms=[
            dict(type="LoadImageFromFile"),
            dict(degradation, seed=1),  # the validation frames: another seed
            dict(type="Resize", scale=test_scale, keep_ratio=True),
            dict(type="LoadTrackAnnotations"),
            dict(type="LoadDetDBProposals", det_db=det_db),
        ],
    ),
    dict(type="PackTrackInputs", meta_keys=("det_proposals",)),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# From scratch, as its base (the synthetic MOTRv2 does not start from COCO Deformable DETR).
load_from = None
