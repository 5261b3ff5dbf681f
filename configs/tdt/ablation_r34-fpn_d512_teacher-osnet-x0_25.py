# TDT Tab. 3, "OSNet-Small" teacher (torchreid osnet_x0_25 on MSMT17, 512-d; Market-1501 mAP 31.0).
# Stores made with configs/tdt/teachers/osnet_x0_25_msmt17.py; everything else as
# ablation_r34-fpn_d512.py.
_base_ = ["./ablation_r34-fpn_d512.py"]
teacher_name = "osnet_x0_25_msmt17"
# The stores must come from these exact weights: the sha256 of torchreid's osnet_x0_25 MSMT17
# file (osnet_x0_25_msmt17.pth, 6f57607f...). A store made with the Market-1501 file of the same
# architecture (c0ff0917...) or a random-init teacher is refused with both hashes named. Other
# MSMT17 weights: put their sha256 here (sha256sum FILE).
expected_teacher = dict(
    name="OSNetTeacher",
    arch="osnet_x0_25",
    weights_sha256="6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99",
)
train_parts = [
    (
        _base_.jde_root,
        f"annotations/{source}.json",
        f"{_base_.jde_store_root}{teacher_name}/{source}",
    )
    for source in _base_.jde_sources
]
train_datasets = [
    dict(
        type="CocoDataset",
        data_root=root,
        ann_file=ann_file,
        data_prefix=dict(img=""),
        metainfo=dict(classes=("pedestrian",)),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=[
            dict(type="LoadImageFromFile"),
            dict(type="LoadAnnotations", with_bbox=True),
            dict(
                type="LoadTeacherEmbeddings",
                store_dir=store_dir,
                ann_file=root + ann_file,
                expected_teacher=expected_teacher,
            ),
            dict(type="KeepTeacherEmbedsAligned", transforms=_base_.train_transforms),
        ],
    )
    for root, ann_file, store_dir in train_parts
]
train_dataloader = dict(dataset=dict(datasets=train_datasets))
