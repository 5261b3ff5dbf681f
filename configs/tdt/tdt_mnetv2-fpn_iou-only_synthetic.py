# The demo's baseline: the same detector as tdt_mnetv2-fpn_embed_synthetic.py (same checkpoint),
# associating by IoU only (JDETracker with_appearance=False: Kalman-predicted boxes matched on
# 1 - IoU; no embedding, no Mahalanobis gate). The difference to the student is the appearance
# embedding alone.
_base_ = ['./tdt_mnetv2-fpn_embed_synthetic.py']
model = dict(tracker=dict(with_appearance=False))
