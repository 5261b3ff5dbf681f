# FairMOT HRNetV2-W18 distilled from DINOv2 ViT-B/14: the paper's main setting
# (Faber et al. 2024, arXiv 2407.18288): cosine embedding loss, alpha 0.5, a single-layer
# transform on the student side (1x1 conv 270 -> 768, bilinear resize to the teacher's 1/14
# grid), MOT17 half-train -> half-val, 20 epochs, batch 4, Adam lr 1e-4 (the authors' run).
#
# Student: the plain FairMOT config, unchanged (checkpoints of this run load into it).
# Teacher: DINOv2 from a LOCAL file, in either layout: the original release
#   (dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth) or timm's
#   (timm/vit_base_patch14_dinov2.lvd142m). A missing file stops the build with its path;
#   the teacher never runs on random weights (the authors' code did, by accident).
#   It sees the raw letterboxed frames (the student's /255 inverted), resized to the nearest
#   multiple of 14 (1088x608 -> 1092x602: a 78x43 patch grid), with ImageNet mean/std.
# Train: python tools/train.py configs/fairmot_dinov2/fairmot_dinov2-base_mot17-half.py \
#          --cfg-options model.student.bbox_head.num_identities=N
#   (N = nID of annotations/half-train_cocoformat.json, as for the FairMOT baseline.)
# Deploy: python tools/distill/export_student.py work_dirs/.../epoch_20.pth student.pth, then
#   tools/test.py configs/fairmot/fairmot_hrnetv2-w18_mot17-half.py student.pth
_base_ = ['../fairmot/fairmot_hrnetv2-w18_mot17-half.py', './_base_/dinov2-base_cosine_distiller.py']

# the student is the plain FairMOT config, unchanged; the distiller block is shared
model = dict(_delete_=True, student=_base_.model, **_base_.dinov2_base_distiller)

custom_hooks = [dict(type='DistillHook')]

# The authors' run: 20 epochs, batch 4, lr 1e-4. FairMOT's lr step (epoch 20) never fires
# within 20 epochs, so the learning rate stays 1e-4.
train_dataloader = dict(batch_size=4)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=20, by_epoch=True, milestones=[20], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=4)
