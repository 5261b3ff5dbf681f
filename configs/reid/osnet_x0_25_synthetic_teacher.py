# The OSNet x0.25 teacher trained by osnet_x0_25_synthetic.py, as used by
# tools/distill/extract_teacher_embeddings.py and the two-stage tracker. `weights` is the
# torchreid-format file written by tools/distill/export_reid_teacher.py; real torchreid weights
# (e.g. ../shared/assets/weights/osnet_x0_25_msmt17.pth with crop_size=(256, 128)) load the same.
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdistillmot'], allow_failed_imports=False)

teacher = dict(
    type='OSNetTeacher',
    arch='osnet_x0_25',
    weights='work_dirs/demo/teacher/osnet_x0_25_synthetic.pth',
    crop_size=(128, 64),  # (h, w): the size the synthetic teacher was trained at
    normalize_embeddings=True)
