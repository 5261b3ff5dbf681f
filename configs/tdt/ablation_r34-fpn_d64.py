# TDT Tab. 6, D_s = 64: the student regresses the first 64 dims of the 512-d OSNet-Large teacher
# embedding (no re-normalisation of the truncated teacher vector, Sec. 3.4). Everything else as
# ablation_r34-fpn_d512.py; only the embedder's last conv changes.
_base_ = ["./ablation_r34-fpn_d512.py"]
model = dict(detector=dict(bbox_head=dict(embed_dim=64)))
