# YOLOX-Nano (COCO, 80 classes) for the weights converted from Megvii's ONNX export
# (../shared/assets/weights/yolox_nano.onnx) by tools/model_converters/yolox_nano_onnx_to_mmdet.py:
# mmdet 3.3's own yolox_nano_8xb8-300e_coco.py model (CSPDarknet depth 0.33 / width 0.25,
# depthwise; YOLOXPAFPN; YOLOXHead; BN eps 1e-3), tested at 416x416 as the export runs (Resize
# keeping the ratio, pad bottom / right with 114, BGR 0-255, no mean / std).
#   python tools/model_converters/yolox_nano_onnx_to_mmdet.py \
#       ../shared/assets/weights/yolox_nano.onnx checkpoints/yolox/yolox_nano_coco_onnx.pth
#   python tools/test.py configs/yolox/yolox_nano_416_coco-onnx.py \
#       checkpoints/yolox/yolox_nano_coco_onnx.pth          # COCO val2017 under data/coco/
#
# BatchNorm is folded in the source: every BN of the checkpoint is neutral (weight 1, bias = the
# fused bias, running_mean 0, running_var 1 - eps). Inference is exact. In training mode a BN
# normalises by the batch statistics instead, which changes the network, so fine-tuning must
# keep BN in eval mode: the backbone does (norm_eval=True below; no effect at test time);
# mmdet's YOLOXPAFPN and YOLOXHead have no norm_eval, so their BNs re-learn statistics unless
# frozen otherwise (e.g. a lower learning rate and a short warm-up, or a hook that calls .eval()
# on them). configs/yolox/README.md has the numbers measured against onnxruntime.
_base_ = ['mmdet::yolox/yolox_nano_8xb8-300e_coco.py']

custom_imports = dict(imports=['mmdistillmot'], allow_failed_imports=False)

# No hub here: the converted file is given on the command line (tools/test.py CKPT) or, to
# fine-tune, as load_from = 'checkpoints/yolox/yolox_nano_coco_onnx.pth'.
model = dict(backbone=dict(norm_eval=True))
