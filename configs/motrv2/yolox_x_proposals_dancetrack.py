# YOLOX-X proposals for DanceTrack: the MOT17 detector recipe (80 epochs) on DanceTrack
# train / val.
#   python tools/dataset_converters/make_det_db.py detector \
#       configs/motrv2/yolox_x_proposals_dancetrack.py \
#       work_dirs/yolox_x_proposals_dancetrack/epoch_80.pth \
#       data/dancetrack/annotations/train_cocoformat.json data/dancetrack \
#       data/dancetrack/det_db_yolox.json
# (run once per split, or over a CocoVID file that lists train, val and test frames with
# file names relative to data/dancetrack/).
_base_ = ["./yolox_x_proposals_mot17.py"]

data_root = "data/dancetrack/"

train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            data_root=data_root,
            ann_file="annotations/train_cocoformat.json",
            data_prefix=dict(img="train/"),
        )
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/val_cocoformat.json",
        data_prefix=dict(img="val/"),
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + "annotations/val_cocoformat.json")
test_evaluator = val_evaluator
