"""Deployment of the one-stage students: ONNX export and onnxruntime inference.

* :mod:`.onnx_export`: a TDT student (RetinaNet + ``RetinaEmbedHead``) or a FairMOT student
  (HRNet + ``FairMOTHead``; a ``FeatureDistiller``'s student, never its teacher) as an ONNX
  graph of fixed input shape. TDT's graph outputs every anchor's decoded box, sigmoid scores and
  L2-normalised embedding (no NMS in the graph); FairMOT's holds the heatmap's max-pool peak
  suppression and top-k, and outputs the top-k peaks' boxes, scores, labels and embeddings.
* :mod:`.onnx_postprocess`: the rest of the heads' ``predict_by_feat`` in numpy (TDT: per-level
  ``nms_pre`` top-k, ``score_thr``, clipping, rescaling, NMS, ``max_per_img``; FairMOT:
  ``score_thr`` and the letterbox rescaling).
* :mod:`.onnx_runner`: an onnxruntime session plus that post-processing, and a frame-by-frame
  tracker feeding the config's ``JDETracker``.
* :mod:`.benchmark`: PyTorch and onnxruntime timed side by side on the same frames.

onnx and onnxruntime are optional (``requirements/deploy.txt``); they are imported only when used.
"""

from mmdistillmot.deployment.onnx_export import (
    FairMOTGraph,
    OnnxDetectorGraph,
    export_onnx,
    student_config,
)
from mmdistillmot.deployment.onnx_postprocess import (
    OnnxGraphInfo,
    postprocess,
    postprocess_centernet,
    postprocess_detections,
)

__all__ = [
    "FairMOTGraph",
    "OnnxDetectorGraph",
    "OnnxGraphInfo",
    "export_onnx",
    "postprocess",
    "postprocess_centernet",
    "postprocess_detections",
    "student_config",
]
