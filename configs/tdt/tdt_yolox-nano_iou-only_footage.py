# The IoU-only baseline of tdt_yolox-nano_embed_footage.py: the same YOLOX-Nano boxes (load the
# adapted student's checkpoint), JDETracker without appearance (its IoU stages only).
_base_ = ['./tdt_yolox-nano_embed_footage.py']
model = dict(tracker=dict(with_appearance=False))
