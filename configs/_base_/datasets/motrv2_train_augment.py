# MOTRv2's training augmentation of a clip (the public MOTRv2 code, datasets/dance.py,
# make_transforms_for_mot17('train'), used for its DanceTrack, MOT17 and CrowdHuman clips):
#   MotRandomHorizontalFlip
#   MotRandomSelect(p 0.5:
#       MotRandomResize(608..992 step 32, max_size=1536),
#       [MotRandomResize([800, 1000, 1200]),        # shorter side, no limit on the longer one
#        FixedMotRandomCrop(800, 1200),              # h and w each drawn in [800, min(side, 1200)]
#        MotRandomResize(608..992 step 32, max_size=1536)])
#   MOTHSV()                                         # YOLOX's HSV jitter (h 5, s 30, v 30)
# as mmdet / mmcv transforms, meant for a TransformBroadcaster with share_random_params=True
# (every @cache_randomness draw - flip, branch, sizes, crop window, HSV gains - is made once
# per clip and reused by every frame, as MOTRv2 draws once per clip):
# * MOTRRandomSelect draws the branch (p 0.5 for the plain resize; mmcv's RandomChoice cannot
#   share its draw across frames once mmdet is imported, see motr_random_select.py).
# * RandomChoiceResize with keep_ratio picks (long, short) scales: (1536, s) is "short side s,
#   long side at most 1536"; (no_long_limit, s) is "short side s".
# * mmdet's RandomCrop with crop_type='absolute_range' and crop_size=(800, 1200) draws the
#   crop height and width in [min(side, 800), min(side, 1200)] and the offset uniformly (what
#   FixedMotRandomCrop does with torchvision's RandomCrop.get_params); boxes are shifted and
#   clipped, those left without area dropped with their ids, labels and ignore flags (MOTRv2's
#   keep rule), and the crop is recorded in homography_matrix, so LoadDetDBProposals maps the
#   proposals through it afterwards. allow_negative_crop=True: a crop without any box is kept
#   (MOTRv2 never skips a clip); MOTRv2 does not clip the kept boxes at the crop, but the
#   resize that follows clips them (mmdet's Resize, clip_object_border=True), so the boxes
#   reach the model the same.
# * YOLOXHSVRandomAug is MOTHSV: the same gains (uniform(-1, 1) * (5, 30, 30), each kept with
#   p 0.5, int16), hue added mod 180, saturation / value clipped to 0..255. MOTRv2 converts its
#   RGB PIL frames with COLOR_BGR2HSV; here the frames are BGR (mmcv's loader), which gives the
#   same distribution (swapping R and B mirrors the hue circle; the hue gain is symmetric).
motrv2_train_scales = [(1536, short) for short in range(608, 993, 32)]
no_long_limit = 100_000
motrv2_crop_resize_scales = [(no_long_limit, short) for short in (800, 1000, 1200)]
motrv2_random_crop = dict(
    type="RandomCrop",
    crop_type="absolute_range",
    crop_size=(800, 1200),
    allow_negative_crop=True,
)
motrv2_train_augment = [
    dict(type="RandomFlip", prob=0.5),
    dict(
        type="MOTRRandomSelect",
        p=0.5,
        transforms1=[dict(type="RandomChoiceResize", scales=motrv2_train_scales, keep_ratio=True)],
        transforms2=[
            dict(type="RandomChoiceResize", scales=motrv2_crop_resize_scales, keep_ratio=True),
            motrv2_random_crop,
            dict(type="RandomChoiceResize", scales=motrv2_train_scales, keep_ratio=True),
        ],
    ),
    dict(type="YOLOXHSVRandomAug"),
]
