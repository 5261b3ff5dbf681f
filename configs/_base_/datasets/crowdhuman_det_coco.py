# CrowdHuman (Sec. 4.1; added to the BaseTrainSet for the benchmark models of Tab. 2): full-body
# boxes, with CrowdHuman's ignore regions ('mask' boxes and boxes flagged ignore) kept as iscrowd
# boxes (mmdet ignores them in training and the teacher extraction skips them). Train and val
# annotations are both used for training, as JDE / FairMOT do.
#
# This file only names the data; configs/tdt/retinanet_r34_embed.py builds the datasets.
#
# 1. Annotations (the images of CrowdHuman_train0{1,2,3}.zip and CrowdHuman_val.zip in Images/):
#      python tools/dataset_converters/crowdhuman_to_coco.py data/CrowdHuman/annotation_train.odgt \
#          data/CrowdHuman -o data/CrowdHuman/annotations/train.json
#      python tools/dataset_converters/crowdhuman_to_coco.py data/CrowdHuman/annotation_val.odgt \
#          data/CrowdHuman -o data/CrowdHuman/annotations/val.json
# 2. Teacher stores:
#      python tools/distill/extract_teacher_embeddings.py configs/tdt/teachers/osnet_ain_x1_0_msmt17.py \
#          data/CrowdHuman/annotations/train.json data/CrowdHuman \
#          data/CrowdHuman/teacher_stores/osnet_ain_x1_0_msmt17/train
#    (and the same for val)
crowdhuman_root = "data/CrowdHuman/"
crowdhuman_splits = ["train", "val"]
# <crowdhuman_store_root><teacher name>/<split>/ holds a store made from annotations/<split>.json
crowdhuman_store_root = crowdhuman_root + "teacher_stores/"
