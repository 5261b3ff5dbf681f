# YOLOX-X proposal detector of VSD-MOT for the LQMOT / MOT mix: the MOT17 recipe
# (yolox_x_proposals_mot17.py: one class, 1440x800, Mosaic / MixUp / HSV / flip, NMS 0.7)
# trained on the low:high 2:1 training mix for 50 epochs, as the paper (section IV-C: "For the
# hybrid training set of LQMOT and MOT, the detector was trained for 50 epochs"), validated on
# LQMOT val. Build the data first (configs/vsd_mot/_base_/lqmot-mot.py).
#
# The det-db of this mix (data_root/det_db_yolox.json, which the VSD-MOT configs read) holds
# the proposals of every frame the trackers see: low- and high-quality, training and
# validation. Run the detector over the four CocoVID lists (train_lq needs the train split
# built with --ratio 1; without it, use train_lq2-hq1 and train_lq1-hq1 for the low-quality
# training videos) and merge them (the keys, lq/... and hq/..., do not collide):
#   for LIST in train_lq train_hq val_lq val_hq; do
#     python tools/dataset_converters/make_det_db.py detector \
#         configs/motrv2/yolox_x_proposals_lqmot-mot-2to1.py \
#         work_dirs/yolox_x_proposals_lqmot-mot-2to1/epoch_50.pth \
#         data/lqmot_mot/annotations/${LIST}_cocoformat.json data/lqmot_mot/ \
#         data/lqmot_mot/det_db_yolox_${LIST}.json --device cuda
#   done
#   python -c "import json, sys; db = {}; [db.update(json.load(open(f))) for f in sys.argv[2:]]; \
#       json.dump(db, open(sys.argv[1], 'w'))" data/lqmot_mot/det_db_yolox.json \
#       data/lqmot_mot/det_db_yolox_{train_lq,train_hq,val_lq,val_hq}.json
# make_det_db keeps score > 0.05 (the paper: "all YOLOX predictions with a confidence score
# exceeding 0.05 were retained"); every frame gets a key, an empty list when nothing is kept.
_base_ = ["./yolox_x_proposals_mot17.py"]

data_root = "data/lqmot_mot/"

# Every frame of the CocoVID files is a detection image; file names are relative to data_root
# (lq/train/<SEQ>/img1/..., hq/train/<SEQ>/img1/...).
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            data_root=data_root,
            ann_file="annotations/train_lq2-hq1_cocoformat.json",
            data_prefix=dict(img=""),
        )
    )
)
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file="annotations/val_lq_cocoformat.json",
        data_prefix=dict(img=""),
    )
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + "annotations/val_lq_cocoformat.json")
test_evaluator = val_evaluator

# The paper's schedule: 50 epochs on 8 GPUs (section IV-C). Warm-up and the epochs without
# Mosaic / MixUp are not given; ByteTrack's detector recipe (1 warm-up epoch, ~1/8 of the
# epochs without them) is kept: 1 and 6.
max_epochs = 50
num_last_epochs = 6
warmup_epochs = 1
interval = 10  # divides max_epochs: epoch_50.pth is written
base_lr = 0.01
train_cfg = dict(max_epochs=max_epochs, val_interval=interval)
param_scheduler = [
    dict(
        type="mmdet.QuadraticWarmupLR",
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True,
    ),
    dict(
        type="CosineAnnealingLR",
        eta_min=base_lr * 0.05,
        begin=warmup_epochs,
        T_max=max_epochs - num_last_epochs,
        end=max_epochs - num_last_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    ),
    dict(
        type="ConstantLR",
        by_epoch=True,
        factor=1,
        begin=max_epochs - num_last_epochs,
        end=max_epochs,
    ),
]
default_hooks = dict(checkpoint=dict(interval=interval, max_keep_ckpts=3))
custom_hooks = [
    dict(type="YOLOXModeSwitchHook", num_last_epochs=num_last_epochs, priority=48),
    dict(type="SyncNormHook", priority=48),
    dict(
        type="EMAHook",
        ema_type="ExpMomentumEMA",
        momentum=0.0001,
        update_buffers=True,
        priority=49,
    ),
]
