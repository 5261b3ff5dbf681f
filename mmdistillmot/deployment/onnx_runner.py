"""Run an exported student (TDT or FairMOT) with onnxruntime and track with its ``JDETracker``.

:class:`OnnxDetector` is the network part: an onnxruntime session on the preprocessed frame
(the graph's input is the data preprocessor's output, see
:mod:`mmdistillmot.deployment.onnx_export`), then the rest of the head's post-processing in
numpy (:func:`~mmdistillmot.deployment.onnx_postprocess.postprocess`: TDT's top-k and NMS on
RetinaNet, its score cut and NMS on YOLOX, FairMOT's score cut and letterbox rescaling).

:class:`OnnxVideoTracker` replaces only the network of
:class:`mmdistillmot.apis.video_tracking.VideoTracker`: the same config (a distillation config:
its student's, :func:`~mmdistillmot.deployment.onnx_export.student_config`) gives the test
pipeline (same resize or letterbox), the data preprocessor (same normalisation and padding,
then padding with its ``pad_value`` up to the graph's fixed ``H x W``) and the tracker, which
gets the same ``InstanceData`` fields as in ``TDT.predict`` / ``FairMOT.predict``: ``bboxes``
in original-image pixels, ``scores``, ``labels``, ``embeddings``.

:class:`FramePreparer` (pipeline + preprocessor for one decoded frame) is shared with the
benchmark's PyTorch side (:mod:`mmdistillmot.deployment.benchmark`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch import nn

from mmdistillmot.deployment.onnx_export import METADATA_KEY, student_config
from mmdistillmot.deployment.onnx_postprocess import (
    FAIRMOT_FORMAT,
    TDT_FORMAT,
    TDT_FORMATS,
    Detections,
    OnnxGraphInfo,
    postprocess,
)

__all__ = [
    "FramePreparer",
    "OnnxDetector",
    "OnnxVideoTracker",
    "head_test_cfg",
    "import_onnxruntime",
    "model_family",
    "preprocessed_shape",
]


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
        test_cfg: Updates the ``test_cfg`` stored in the file (e.g. with the config's);
            FairMOT refuses other values of what the graph fixed (``topk``, the kernel).
        num_threads: onnxruntime intra-op threads (0: its default).
        pad_value: Value of the padding up to the graph's input size, in the preprocessed
            (normalised) space: the data preprocessor's ``pad_value``.
        spinning: Let onnxruntime's idle intra-op threads spin-wait (its default). False makes
            them sleep, as ``OMP_WAIT_POLICY=PASSIVE`` does PyTorch's: the benchmark uses it,
            so that neither engine takes the cores from the other between runs.
    """

    def __init__(
        self,
        onnx_file: str | Path,
        test_cfg: dict | None = None,
        num_threads: int = 0,
        pad_value: float = 0.0,
        spinning: bool = True,
    ) -> None:
        ort = import_onnxruntime()
        if not Path(onnx_file).is_file():
            raise FileNotFoundError(f"ONNX file '{onnx_file}' does not exist")
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
        self.test_cfg = self.info.merged_test_cfg(test_cfg)
        self.input_name = self.session.get_inputs()[0].name
        self.pad_value = float(pad_value)
        self._warned_padding = False

    def pad(self, inputs: np.ndarray) -> np.ndarray:
        """Zero-pad a preprocessed frame to the graph's input shape.

        Args:
            inputs: [1, 3, h, w] (or [3, h, w]) normalised frame, ``h <= H`` and ``w <= W``.

        Returns:
            [1, 3, H, W] float32 (the added pixels: :attr:`pad_value`).

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
        if not self._warned_padding:
            self._warned_padding = True
            warnings.warn(
                f"frames preprocess to {h}x{w} but the ONNX input is {height}x{width}: padded "
                "further, so boxes near the padding can differ slightly from PyTorch's; export "
                f"with --shape {h} {w} (or --shape-from FRAME) for these frames",
                stacklevel=2,
            )
        padded = np.full((1, 3, height, width), self.pad_value, dtype=np.float32)
        padded[..., :h, :w] = frame
        return padded

    def raw(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's outputs for one frame, by name, without the batch dimension.

        Args:
            inputs: [1, 3, h, w] preprocessed frame (padded here to ``H x W``).

        Returns:
            TDT: ``boxes`` [N, 4], ``scores`` [N, C], ``embeddings`` [N, D]; FairMOT:
            ``boxes`` [K, 4], ``scores`` [K], ``labels`` [K], ``embeddings`` [K, D].
        """
        names = list(self.info.output_names)
        outputs = self.session.run(names, {self.input_name: self.pad(inputs)})
        return {name: value[0] for name, value in zip(names, outputs)}

    def __call__(
        self,
        inputs: np.ndarray,
        img_shape: tuple[int, int],
        scale_factor: tuple[float, float] | None = None,
        letterbox_offset: tuple[float, float] | None = None,
    ) -> Detections:
        """Detect on one preprocessed frame.

        Args:
            inputs: [1, 3, h, w] preprocessed frame.
            img_shape: ``(h, w)`` of the resized frame before padding.
            scale_factor: ``(w_scale, h_scale)``; given, boxes in original-image pixels.
            letterbox_offset: FairMOT: the letterbox's ``(dx, dy)`` padding (metainfo).

        Returns:
            The post-processed detections (see :func:`postprocess`).
        """
        return postprocess(
            self.raw(inputs), self.info, img_shape, scale_factor, letterbox_offset, self.test_cfg
        )


def model_family(model_cfg: Any) -> str:
    """The graph format a tracking model config exports to, by its parts.

    Args:
        model_cfg: ``cfg.model`` of a student config (not a distiller's: see
            :func:`~mmdistillmot.deployment.onnx_export.student_config`).

    Returns:
        :data:`TDT_FORMAT` (``detector`` + ``tracker``, RetinaNet or YOLOX: the graph's
        metadata tells which) or :data:`FAIRMOT_FORMAT` (``bbox_head`` + ``tracker``, no
        ``detector``).

    Raises:
        ValueError: Neither (e.g. a two-stage tracker, or no tracker).
    """
    if "tracker" in model_cfg and "detector" in model_cfg:
        return TDT_FORMAT
    if "tracker" in model_cfg and "bbox_head" in model_cfg:
        return FAIRMOT_FORMAT
    raise ValueError(
        f"--onnx needs a one-stage config with a tracker (TDT: detector + tracker, FairMOT: "
        f"bbox_head + tracker), got model type {model_cfg.get('type')!r}"
    )


def head_test_cfg(model_cfg: Any) -> dict | None:
    """The head's ``test_cfg`` of a one-stage tracking config (None: the graph's).

    Args:
        model_cfg: ``cfg.model`` (TDT: ``detector.test_cfg``; FairMOT: ``bbox_head.test_cfg``).

    Returns:
        A plain dict, or None when the config sets none.
    """
    if model_family(model_cfg) == TDT_FORMAT:
        test_cfg = model_cfg.detector.get("test_cfg")
    else:
        test_cfg = model_cfg.bbox_head.get("test_cfg")
    if test_cfg is None:
        return None
    return test_cfg.to_dict() if hasattr(test_cfg, "to_dict") else dict(test_cfg)


class FramePreparer:
    """A config's test pipeline and a data preprocessor, for one decoded frame at a time.

    Args:
        cfg: The (student) config: its ``test_dataloader`` pipeline (file loaders dropped, see
            :func:`~mmdistillmot.apis.video_tracking.frame_test_pipeline`).
        data_preprocessor: The model's data preprocessor (or one built from the config).
    """

    def __init__(self, cfg: Config, data_preprocessor: nn.Module) -> None:
        from mmdistillmot.apis.video_tracking import frame_test_pipeline

        self.pipeline = frame_test_pipeline(cfg)
        self.data_preprocessor = data_preprocessor

    def pack(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> dict:
        """The pipeline's collated batch of one frame (what ``model.test_step`` takes).

        Args:
            image: BGR frame [H0, W0, 3] uint8.
            frame_id: 0-based index in the video.
            video_len: Number of frames of the video.
            fps: The video's frame rate, put in the frame's metainfo.

        Returns:
            ``default_collate`` of the packed frame.
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
        return default_collate([packed])

    def __call__(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> tuple[torch.Tensor, Any]:
        """The pipeline and the data preprocessor on one frame (arguments: see :meth:`pack`).

        Returns:
            The preprocessed frame [1, 3, h, w] and its ``DetDataSample``.
        """
        with torch.no_grad():
            batch = self.data_preprocessor(self.pack(image, frame_id, video_len, fps), False)
        return batch["inputs"][:, 0], batch["data_samples"][0][0]


def preprocessed_shape(
    cfg: Config, data_preprocessor: nn.Module, image: np.ndarray
) -> tuple[int, int]:
    """``(H, W)`` of a frame after a config's test pipeline and data preprocessor (padding).

    The ONNX input shape that gives exactly the PyTorch numbers on frames of this size (a graph
    input larger than this pads the frames further, see :meth:`OnnxDetector.pad`).

    Args:
        cfg: The (student) config.
        data_preprocessor: Its data preprocessor (``pad_size_divisor``, ``pad_value``).
        image: An example BGR frame [H0, W0, 3].

    Returns:
        The preprocessed frame's height and width.
    """
    inputs, _ = FramePreparer(cfg, data_preprocessor)(image, 0, 1)
    return int(inputs.shape[-2]), int(inputs.shape[-1])


class OnnxVideoTracker:
    """:class:`~mmdistillmot.apis.video_tracking.VideoTracker` with the network in onnxruntime.

    Args:
        config: The config the graph was exported from (pipeline, preprocessor, tracker, the
            head's ``test_cfg``): TDT (RetinaNet or YOLOX), FairMOT, or a distillation config
            around one (its student's are used; the teacher is not built).
        onnx_file: The exported graph.
        cfg_options: Config overrides (applied before anything is built).
        num_threads: onnxruntime intra-op threads (0: its default).
        spinning: See :class:`OnnxDetector`.

    Raises:
        ValueError: The config is not a one-stage tracking config, or not of the graph's
            family (a FairMOT graph with a TDT config, or the reverse).
    """

    def __init__(
        self,
        config: str,
        onnx_file: str | Path,
        cfg_options: dict | None = None,
        num_threads: int = 0,
        spinning: bool = True,
    ) -> None:
        from mmdet.registry import MODELS

        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        cfg = student_config(cfg)
        init_default_scope(cfg.get("default_scope", "mmdet"))
        family = model_family(cfg.model)
        self.cfg = cfg
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.detector = OnnxDetector(
            onnx_file,
            head_test_cfg(cfg.model),
            num_threads,
            pad_value=float(getattr(self.data_preprocessor, "pad_value", 0.0)),
            spinning=spinning,
        )
        graph_family = TDT_FORMAT if self.detector.info.format in TDT_FORMATS else FAIRMOT_FORMAT
        if graph_family != family:
            raise ValueError(
                f"{onnx_file} is a {self.detector.info.format} graph but {config} is a "
                f"{family} config: give the config it was exported from"
            )
        self.preparer = FramePreparer(cfg, self.data_preprocessor)
        self.pipeline = self.preparer.pipeline
        self.tracker = MODELS.build(cfg.model.tracker)
        # what describe_thresholds reads off a model (as the PyTorch model shows it: TDT's
        # detector score_thr, FairMOT's tracker only)
        self.model: Any = SimpleNamespace(tracker=self.tracker)
        if family == TDT_FORMAT:
            head = SimpleNamespace(test_cfg=self.detector.test_cfg)
            self.model.detector = SimpleNamespace(bbox_head=head)

    def preprocess(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> tuple[np.ndarray, Any]:
        """The config's pipeline and data preprocessor on one frame (see :class:`FramePreparer`).

        Returns:
            The preprocessed frame [3, h, w] (numpy) and its ``DetDataSample``.
        """
        inputs, sample = self.preparer(image, frame_id, video_len, fps)
        return inputs[0].numpy(), sample

    def describe_thresholds(self, fps: float | None = None, public_dets: bool = False) -> str:
        """See :func:`mmdistillmot.apis.video_tracking.describe_thresholds`."""
        from mmdistillmot.apis.video_tracking import describe_thresholds

        return describe_thresholds(self.model, fps, public_dets)

    def detect(self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None):
        """One frame's detections in original pixels and its ``DetDataSample``.

        Returns:
            ``(Detections, DetDataSample)``.
        """
        inputs, sample = self.preprocess(image, frame_id, video_len, fps)
        meta = sample.metainfo
        offset = meta.get("letterbox_offset")
        dets = self.detector(
            inputs,
            tuple(meta["img_shape"][:2]),
            tuple(meta["scale_factor"]),
            None if offset is None else tuple(offset),
        )
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
