"""Run an exported TDT student with onnxruntime and track with the config's ``JDETracker``.

:class:`OnnxDetector` is the network part: an onnxruntime session on the preprocessed frame
(the graph's input is the data preprocessor's output, see
:mod:`mmdistillmot.deployment.onnx_export`), then the head's post-processing in numpy
(:func:`~mmdistillmot.deployment.onnx_postprocess.postprocess_detections`, NMS included).

:class:`OnnxVideoTracker` replaces only the network of
:class:`mmdistillmot.apis.video_tracking.VideoTracker`: the same config gives the test pipeline
(same resize), the data preprocessor (same normalisation and padding, then zero padding up to the
graph's fixed ``H x W``) and the tracker, which gets the same ``InstanceData`` fields as in
``TDT.predict``: ``bboxes`` in original-image pixels, ``scores``, ``labels``, ``embeddings``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdistillmot.deployment.onnx_export import METADATA_KEY, OUTPUT_NAMES
from mmdistillmot.deployment.onnx_postprocess import (
    Detections,
    OnnxGraphInfo,
    postprocess_detections,
)

__all__ = ["OnnxDetector", "OnnxVideoTracker", "import_onnxruntime"]


def import_onnxruntime() -> Any:
    """``onnxruntime``, or a one-line error naming ``requirements/deploy.txt``.

    Raises:
        RuntimeError: onnxruntime is not installed.
    """
    try:
        import onnxruntime
    except ImportError:
        raise RuntimeError(
            "onnxruntime is not installed: pip install -r requirements/deploy.txt"
        ) from None
    return onnxruntime


class OnnxDetector:
    """An exported detector: onnxruntime session + numpy post-processing.

    Args:
        onnx_file: The file :func:`~mmdistillmot.deployment.onnx_export.export_onnx` wrote.
        test_cfg: Overrides the ``test_cfg`` stored in the file (e.g. the config's).
        num_threads: onnxruntime intra-op threads (0: its default).
    """

    def __init__(
        self, onnx_file: str | Path, test_cfg: dict | None = None, num_threads: int = 0
    ) -> None:
        ort = import_onnxruntime()
        if not Path(onnx_file).is_file():
            raise FileNotFoundError(f"ONNX file '{onnx_file}' does not exist")
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(
                f"{onnx_file}: no '{METADATA_KEY}' metadata; export it with "
                "tools/deployment/export_onnx.py"
            )
        self.info = OnnxGraphInfo.from_metadata(json.loads(meta[METADATA_KEY]))
        self.test_cfg = dict(self.info.test_cfg if test_cfg is None else test_cfg)
        self.input_name = self.session.get_inputs()[0].name

    def pad(self, inputs: np.ndarray) -> np.ndarray:
        """Zero-pad a preprocessed frame to the graph's input shape.

        Args:
            inputs: [1, 3, h, w] (or [3, h, w]) normalised frame, ``h <= H`` and ``w <= W``.

        Returns:
            [1, 3, H, W] float32.

        Raises:
            ValueError: The frame is larger than the graph's input.
        """
        frame = np.asarray(inputs, dtype=np.float32).reshape(1, 3, *inputs.shape[-2:])
        height, width = self.info.input_shape
        h, w = frame.shape[-2:]
        if h > height or w > width:
            raise ValueError(
                f"the preprocessed frame is {h}x{w}, larger than the ONNX input {height}x{width}:"
                " export with --shape H W that holds it"
            )
        if (h, w) == (height, width):
            return frame
        padded = np.zeros((1, 3, height, width), dtype=np.float32)
        padded[..., :h, :w] = frame
        return padded

    def raw(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The graph's outputs for one frame.

        Args:
            inputs: [1, 3, h, w] preprocessed frame (padded here to ``H x W``).

        Returns:
            ``boxes`` [N, 4], ``scores`` [N, C], ``embeddings`` [N, D].
        """
        boxes, scores, embeddings = self.session.run(
            list(OUTPUT_NAMES), {self.input_name: self.pad(inputs)}
        )
        return boxes[0], scores[0], embeddings[0]

    def __call__(
        self,
        inputs: np.ndarray,
        img_shape: tuple[int, int],
        scale_factor: tuple[float, float] | None = None,
    ) -> Detections:
        """Detect on one preprocessed frame.

        Args:
            inputs: [1, 3, h, w] preprocessed frame.
            img_shape: ``(h, w)`` of the resized frame before padding.
            scale_factor: ``(w_scale, h_scale)``; given, boxes in original-image pixels.

        Returns:
            The post-processed detections (see :func:`postprocess_detections`).
        """
        boxes, scores, embeddings = self.raw(inputs)
        return postprocess_detections(
            boxes, scores, embeddings, self.info, img_shape, scale_factor, self.test_cfg
        )


class OnnxVideoTracker:
    """:class:`~mmdistillmot.apis.video_tracking.VideoTracker` with the network in onnxruntime.

    Args:
        config: The TDT config the graph was exported from (pipeline, preprocessor, tracker,
            the head's ``test_cfg``).
        onnx_file: The exported graph.
        cfg_options: Config overrides (applied before anything is built).
        num_threads: onnxruntime intra-op threads (0: its default).
    """

    def __init__(
        self,
        config: str,
        onnx_file: str | Path,
        cfg_options: dict | None = None,
        num_threads: int = 0,
    ) -> None:
        from mmdet.registry import MODELS

        from mmdistillmot.apis.video_tracking import frame_test_pipeline

        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        init_default_scope(cfg.get("default_scope", "mmdet"))
        if "tracker" not in cfg.model or "detector" not in cfg.model:
            raise ValueError(f"{config}: --onnx needs a one-stage TDT config (detector + tracker)")
        self.cfg = cfg
        test_cfg = cfg.model.detector.get("test_cfg")
        self.detector = OnnxDetector(
            onnx_file, None if test_cfg is None else test_cfg.to_dict(), num_threads
        )
        self.pipeline = frame_test_pipeline(cfg)
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.tracker = MODELS.build(cfg.model.tracker)
        # what describe_thresholds reads off a model
        self.model = SimpleNamespace(
            detector=SimpleNamespace(bbox_head=SimpleNamespace(test_cfg=self.detector.test_cfg)),
            tracker=self.tracker,
        )

    def preprocess(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> tuple[np.ndarray, Any]:
        """The config's pipeline and data preprocessor on one frame.

        Args:
            image: BGR frame [H0, W0, 3] uint8.
            frame_id: 0-based index in the video.
            video_len: Number of frames of the video.
            fps: The video's frame rate, put in the frame's metainfo.

        Returns:
            The preprocessed frame [1, 3, h, w] (numpy) and its ``DetDataSample``.
        """
        from mmengine.dataset import default_collate

        data = dict(
            img=[image],
            frame_id=[frame_id],
            ori_shape=[image.shape[:2]],
            img_id=[frame_id + 1],
            ori_video_length=[video_len],
        )
        packed = self.pipeline(data)
        if fps is not None:
            for frame_sample in packed["data_samples"]:
                frame_sample.set_metainfo(dict(fps=float(fps)))
        with torch.no_grad():
            batch = self.data_preprocessor(default_collate([packed]), False)
        return batch["inputs"][0, 0].numpy(), batch["data_samples"][0][0]

    def describe_thresholds(self, fps: float | None = None, public_dets: bool = False) -> str:
        """See :func:`mmdistillmot.apis.video_tracking.describe_thresholds`."""
        from mmdistillmot.apis.video_tracking import describe_thresholds

        return describe_thresholds(self.model, fps, public_dets)  # type: ignore[arg-type]

    def detect(self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None):
        """One frame's detections in original pixels and its ``DetDataSample``.

        Returns:
            ``(Detections, DetDataSample)``.
        """
        inputs, sample = self.preprocess(image, frame_id, video_len, fps)
        meta = sample.metainfo
        dets = self.detector(inputs, tuple(meta["img_shape"][:2]), tuple(meta["scale_factor"]))
        return dets, sample

    def track(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> InstanceData:
        """Track one frame (as :meth:`VideoTracker.track`).

        Args:
            image: BGR frame [H, W, 3] uint8.
            frame_id: 0-based index in the video (0 resets the tracker).
            video_len: Number of frames of the video.
            fps: The video's frame rate for the tracker (None keeps the config's rate).

        Returns:
            ``bboxes`` [M, 4] xyxy in frame pixels, ``scores`` [M], ``instances_id`` [M].
        """
        dets, sample = self.detect(image, frame_id, video_len, fps)
        pred = InstanceData()
        pred.bboxes = torch.from_numpy(dets.bboxes)
        pred.scores = torch.from_numpy(dets.scores)
        pred.labels = torch.from_numpy(dets.labels)
        pred.embeddings = torch.from_numpy(dets.embeddings)
        sample.pred_instances = pred
        return self.tracker.track(data_sample=sample)
