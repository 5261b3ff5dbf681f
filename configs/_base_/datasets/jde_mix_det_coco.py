# TDT's BaseTrainSet (Sec. 4.1): the JDE "MIX" detection sets ETH, CityPersons, CalTech, CUHK-SYSU,
# PRW and MOT17, detection labels only (identities are dropped: TDT never sees a tracking label),
# each converted to one COCO file and augmented with the pseudo embeddings of a Re-ID teacher
# (Sec. 3.3), one store per source dataset and teacher.
#
# This file only names the data; the model configs (configs/tdt/) build the datasets with their
# input size and teacher, e.g. configs/tdt/ablation_r34-fpn_d512.py.
#
# 1. Annotations, from the JDE image lists (FairMOT's src/data/*.train, relative to jde_root) and
#    their labels_with_ids:
#      python tools/dataset_converters/jde_to_coco.py data/JDE data/JDE/lists/eth.train \
#          -o data/JDE/annotations/eth.json
#    likewise citypersons.train, caltech.all -> caltech.json, cuhksysu.train, prw.train, mot17.train.
# 2. Teacher stores (one per source; TEACHER is a config of configs/tdt/teachers/):
#      python tools/distill/extract_teacher_embeddings.py configs/tdt/teachers/osnet_ain_x1_0_msmt17.py \
#          data/JDE/annotations/eth.json data/JDE data/JDE/teacher_stores/osnet_ain_x1_0_msmt17/eth
jde_root = "data/JDE/"
jde_sources = ["eth", "citypersons", "caltech", "cuhksysu", "prw", "mot17"]
# <jde_store_root><teacher name>/<source>/ holds a store made from annotations/<source>.json
jde_store_root = jde_root + "teacher_stores/"
