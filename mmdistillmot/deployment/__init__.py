"""Deployment of the one-stage students: ONNX export and onnxruntime inference.

* :mod:`.onnx_export`: the detector (RetinaNet + ``RetinaEmbedHead``) as an ONNX graph of fixed
  input shape whose outputs are every anchor's decoded box, sigmoid scores and L2-normalised
  embedding (no NMS in the graph).
* :mod:`.onnx_postprocess`: the head's ``predict_by_feat`` post-processing in numpy (per-level
  ``nms_pre`` top-k, ``score_thr``, clipping, rescaling, NMS, ``max_per_img``).
* :mod:`.onnx_runner`: an onnxruntime session plus that post-processing, and a frame-by-frame
  tracker feeding the config's ``JDETracker``.

onnx and onnxruntime are optional (``requirements/deploy.txt``); they are imported only when used.
"""

from mmdistillmot.deployment.onnx_export import OnnxDetectorGraph, export_onnx
from mmdistillmot.deployment.onnx_postprocess import OnnxGraphInfo, postprocess_detections

__all__ = ["OnnxDetectorGraph", "OnnxGraphInfo", "export_onnx", "postprocess_detections"]
