# MOT17 train (all sequences; mmdet's mot2coco.py) for training with FairMOT's pipeline, and
# the MOT17 test set for inference: results are written in MOTChallenge format for the
# benchmark server (no ground truth), as mmdet's ByteTrack mot17test config does.
_base_ = ["./mot17-half_fairmot.py"]

train_dataloader = dict(dataset=dict(ann_file="annotations/train_cocoformat.json"))
val_dataloader = dict(
    dataset=dict(ann_file="annotations/test_cocoformat.json", data_prefix=dict(img_path="test"))
)
test_dataloader = val_dataloader
val_evaluator = dict(
    type="OneBasedMOTChallengeMetric",
    metric=["HOTA", "CLEAR", "Identity"],
    format_only=True,
    outfile_prefix="./work_dirs/fairmot_mot17_test_results",
)
test_evaluator = val_evaluator
