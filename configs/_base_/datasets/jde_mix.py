# JDE/FairMOT "MIX" training data: image lists + labels_with_ids (JDEMixDataset), identities
# offset per source so that they are unique; the dataset logs nID (metainfo['num_identities']).
# List names follow FairMOT's src/lib/cfg/data.json; point data_root and the lists at your copy.
# Evaluation uses MOT17 half-val as in mot17-half_fairmot.py.
_base_ = ["./mot17-half_fairmot.py"]

mix_root = "data/JDE/"

mix_train_pipeline = [
    dict(type="LoadImageFromFile", backend_args=_base_.backend_args),
    dict(type="LoadTrackAnnotations"),
    dict(type="FairMOTHSVAugment", saturation_gain=0.5, value_gain=0.5),
    dict(type="Letterbox", scale=_base_.img_scale, pad_val=127.5),
    dict(
        type="FairMOTRandomAffine",
        max_rotate_degree=5.0,
        max_translate_ratio=0.1,
        scaling_ratio_range=(0.5, 1.2),
        max_shear_degree=2.0,
        border_val=127.5,
    ),
    dict(type="RandomFlip", prob=0.5),
    # PackTrackInputs packs lists of frames: one image becomes a one-frame clip.
    dict(type="WrapFieldsToLists"),
    dict(type="PackTrackInputs", meta_keys=("letterbox_offset",)),
    # CenterNet targets (heatmap, ltrb, offset, centre index, identity) in the workers, on
    # the grid of the input padded as the data preprocessor pads it (FairMOTHead checks)
    dict(type="BuildFairMOTTargets", pad_size_divisor=32),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    dataset=dict(
        type="JDEMixDataset",
        data_root=mix_root,
        list_files=dict(
            mot17="lists/mot17.train",
            caltech="lists/caltech.all",
            citypersons="lists/citypersons.train",
            cuhksysu="lists/cuhksysu.train",
            prw="lists/prw.train",
            eth="lists/eth.train",
        ),
        data_prefix=dict(img=""),
        pipeline=mix_train_pipeline,
    ),
)
