"""Track a user's own footage (a video file or a folder of frames) with any tracking config.

Used by ``tools/demo/track_video.py``. Frames go through the config's own test pipeline (with
the file and annotation loaders left out, as mmdet's ``build_test_pipeline`` does), one at
a time, so a tracker sees exactly what ``tools/test.py`` would feed it.

Public detections (MOTChallenge's public-detection protocol): the tracker associates the given
boxes instead of the model's own. Their appearance embeddings come from the model:

* a model with a Re-ID network on crops (``TwoStageTracker``) embeds the public boxes directly;
* a one-stage model (``TDT``) runs its detector without score threshold and without NMS (every
  anchor's regressed box is a candidate, up to ``max_candidates``) and gives each public box the
  embedding of the candidate that overlaps it most; a public box that no candidate overlaps by at
  least ``min_iou`` is dropped (its appearance is unknown).

Either way the tracker reports the public boxes themselves (``output_boxes='detection'``, not the
Kalman-filtered boxes), as the protocol requires: every output box is one of the given boxes.
:func:`public_detection_embeddings` is that network part alone
(``tools/analysis/mot_param_search.py`` caches it once per frame); a two-stage model never runs
its detector on public detections (:func:`public_detector_note`): no detector checkpoint needed.

Frame rate: :class:`FrameSource` reads a video file's own rate and a MOTChallenge sequence's
``seqinfo.ini`` ``frameRate``; :meth:`VideoTracker.track` hands it to the tracker in each frame's
metainfo (``fps``), as ``MOTChallengeVideoDataset`` does for ``tools/test.py``, so that
``JDETracker``'s lost-track buffer is FairMOT's ``int(fps / 30 * track_buffer)``.

Track ids: trackers number tracks from 0 (mmdet's convention); MOTChallenge files count from 1.
:func:`tracks_to_mot_rows` is where this module's results become 1-based, once.
"""

from __future__ import annotations

import configparser
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import init_track_model
from mmdet.structures.bbox import bbox_overlaps, scale_boxes
from mmengine.config import Config, ConfigDict
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdistillmot.datasets.image_io import read_image
from mmdistillmot.datasets.mot_files import make_mot_rows, read_mot_file
from mmdistillmot.models.distillers.raw_frames import recover_raw_frames
from mmdistillmot.models.trackers.jde_tracker import lost_track_buffer

__all__ = [
    "FrameSource",
    "VideoTracker",
    "describe_thresholds",
    "load_public_detections",
    "public_detection_embeddings",
    "public_detector_note",
    "read_seqinfo_frame_rate",
    "tracks_to_mot_rows",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def read_seqinfo_frame_rate(path: str | Path) -> float | None:
    """The ``frameRate`` of a ``seqinfo.ini`` (only that key is needed; MOTChallenge's own).

    Args:
        path: The ``seqinfo.ini`` file.

    Returns:
        The frame rate, or None when the file has no ``[Sequence] frameRate``.

    Raises:
        ValueError: The file is not an ini file, or ``frameRate`` is not a positive number (the
            message names the file).
    """
    parser = configparser.ConfigParser()
    try:
        parser.read_string(Path(path).read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid ini file: {' '.join(str(err).split())}") from None
    if not parser.has_option("Sequence", "frameRate"):  # option names are case-insensitive
        return None
    value = parser.get("Sequence", "frameRate")
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{path}: frameRate={value!r} is not a positive number")
    return rate


@dataclass
class FrameSource:
    """Frames of a video file or of a folder of images (sorted by name), as BGR uint8 arrays.

    Attributes set from the input: ``fps`` (float or None) and ``fps_source``, where the rate
    came from: a video file's own rate (``'video file'``); for a folder, the ``frameRate`` of
    the ``seqinfo.ini`` of its MOTChallenge sequence (``'<path>/seqinfo.ini'``: the folder's
    own, or its parent's when the folder is that sequence's ``imDir``); else None
    (``'unknown'``).

    Args:
        path: A video file readable by OpenCV, a folder of images, or a MOTChallenge sequence
            folder (its ``img1`` is read).
    """

    path: str

    def __post_init__(self) -> None:
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"input '{self.path}' does not exist")
        self.is_folder = os.path.isdir(self.path)
        self.fps: float | None = None
        self.fps_source = "unknown"
        if self.is_folder and os.path.isdir(os.path.join(self.path, "img1")):
            self.path = os.path.join(self.path, "img1")  # a MOTChallenge sequence folder
        if self.is_folder:
            self.files = sorted(
                f for f in os.listdir(self.path) if f.lower().endswith(IMAGE_EXTENSIONS)
            )
            if not self.files:
                raise FileNotFoundError(
                    f"no images ({', '.join(IMAGE_EXTENSIONS)}) in '{self.path}'"
                )
            seqinfo = self._find_seqinfo(Path(self.path))
            if seqinfo is not None:
                self.fps = read_seqinfo_frame_rate(seqinfo)
                if self.fps is not None:
                    self.fps_source = str(seqinfo)
        else:
            capture = cv2.VideoCapture(self.path)
            if not capture.isOpened():
                raise OSError(f"OpenCV cannot open the video '{self.path}'")
            rate = capture.get(cv2.CAP_PROP_FPS)
            if math.isfinite(rate) and rate > 0:  # 0 when the container does not say
                self.fps, self.fps_source = float(rate), "video file"
            self.num_video_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            capture.release()

    @staticmethod
    def _find_seqinfo(folder: Path) -> Path | None:
        """The ``seqinfo.ini`` of the sequence whose images ``folder`` holds, if any."""
        if (folder / "seqinfo.ini").is_file():
            return folder / "seqinfo.ini"
        parent = folder.parent / "seqinfo.ini"
        if not parent.is_file():
            return None
        parser = configparser.ConfigParser()
        try:
            parser.read_string(parent.read_text(encoding="utf-8"), source=str(parent))
        except (configparser.Error, UnicodeDecodeError):
            return parent  # read_seqinfo_frame_rate reports it
        im_dir = parser.get("Sequence", "imDir", fallback="img1")
        return parent if im_dir == folder.name else None

    def __len__(self) -> int:
        return len(self.files) if self.is_folder else self.num_video_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.is_folder:
            for name in self.files:
                # not cv2.imread: it fills a truncated JPEG's missing rows in gray, silently
                yield read_image(os.path.join(self.path, name))
            return
        capture = cv2.VideoCapture(self.path)
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                yield image
        finally:
            capture.release()


def load_public_detections(path: str, min_score: float = -np.inf) -> dict[int, np.ndarray]:
    """Read a MOTChallenge ``det.txt``: frame (1-based) -> [N, 5] ``x1, y1, x2, y2, score``.

    Args:
        path: The detection file (``frame, -1, x, y, w, h, score[, ...]`` per line).
        min_score: Detections scoring below are left out.

    Returns:
        Per frame that has detections, an [N, 5] float64 array.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        MOTFormatError: A malformed line (the message names file and line).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"detection file '{path}' does not exist")
    rows = read_mot_file(path, kind="det").rows
    rows = rows[rows["conf"] >= min_score]
    boxes = np.stack(
        [rows["x"], rows["y"], rows["x"] + rows["w"], rows["y"] + rows["h"], rows["conf"]], 1
    )
    return {int(f): boxes[rows["frame"] == f] for f in np.unique(rows["frame"])}


def tracks_to_mot_rows(frame_id: int, tracks: InstanceData) -> np.ndarray:
    """One frame's tracks as MOTChallenge result rows, with 1-based ids (``instances_id + 1``).

    Args:
        frame_id: 0-based index of the frame in its video (written 1-based, as MOTChallenge).
        tracks: ``bboxes`` [M, 4] xyxy, ``scores`` [M] and ``instances_id`` [M] (from 0, as
            mmdet's and this project's trackers number them).

    Returns:
        [M] structured rows of dtype ``MOT_ROW_DTYPE`` (``frame``, ``id``, ``x, y, w, h``,
        ``conf``): ids and frames from 1.
    """
    boxes = tracks.bboxes.detach().cpu().numpy().reshape(-1, 4).astype(np.float64)
    ids = tracks.instances_id.detach().cpu().numpy().reshape(-1).astype(np.int64)
    scores = tracks.scores.detach().cpu().numpy().reshape(-1).astype(np.float64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return make_mot_rows([frame_id + 1] * len(ids), ids + 1, xywh, scores)


def describe_thresholds(
    model: torch.nn.Module, fps: float | None = None, public_dets: bool = False
) -> str:
    """One line naming the score thresholds that gate a tracking model, stage by stage.

    Args:
        model: A tracking model (``TDT``, ``TwoStageTracker``, ``FairMOT``, mmdet's MOT models).
        fps: The video's frame rate, for the lost-track buffer of a ``JDETracker``-style
            tracker (``track_buffer``); None: the tracker's current buffer.
        public_dets: The boxes are public detections (the detector's threshold gates nothing).

    Returns:
        E.g. ``detector: score_thr=0.05 (boxes the detector keeps); tracker JDETracker:
        init_track_thr=0.3 (at least this to start a track), obj_score_thr=0.3 (a detection
        must score above it to be associated), lost tracks kept 7 frames (7 fps)``.
    """
    parts = []
    detector = getattr(model, "detector", None)
    head_cfg = getattr(getattr(detector, "bbox_head", None), "test_cfg", None)
    if public_dets:
        parts.append("boxes: the public detections (after --min-det-score)")
    elif head_cfg is not None and head_cfg.get("score_thr") is not None:
        parts.append(f"detector: score_thr={head_cfg['score_thr']} (boxes the detector keeps)")
    tracker = getattr(model, "tracker", None)
    if tracker is not None:
        meaning = {
            "obj_score_thr": "a detection must score above it to be associated",
            "init_track_thr": "at least this to start a track",
        }
        values = [
            f"{name}={value}" + (f" ({meaning[name]})" if name in meaning else "")
            for name, value in sorted(vars(tracker).items())
            if name.endswith(("_thr", "_thrs")) and isinstance(value, (int, float, dict))
        ]
        if fps is not None and isinstance(getattr(tracker, "track_buffer", None), int):
            frames = lost_track_buffer(fps, tracker.track_buffer)
            values.append(f"lost tracks kept {frames} frames ({fps:g} fps)")
        elif hasattr(tracker, "max_time_lost"):
            rate = getattr(tracker, "frame_rate", None)
            values.append(f"lost tracks kept {tracker.max_time_lost} frames (config: {rate} fps)")
        parts.append(f"tracker {type(tracker).__name__}: " + ", ".join(values))
    return "; ".join(parts) or f"{type(model).__name__}: no score thresholds found"


#: Pipeline steps that read files: in-memory frames have no file and no annotations.
FILE_LOADERS = ("LoadImageFromFile", "LoadTrackAnnotations", "LoadAnnotations")


def frame_test_pipeline(cfg: Config) -> Compose:
    """The config's tracking test pipeline for frames already decoded (``results['img']``).

    Like mmdet's ``build_test_pipeline``, the file loader and the annotation loader are left
    out of the ``TransformBroadcaster``, but every other step stays (mmdet's keeps the step
    whose type is exactly ``Resize`` and nothing else, which drops ``ResizeKeepOriginal``,
    ``Letterbox`` or any step a config adds).

    Args:
        cfg: The model's config (``test_dataloader.dataset.pipeline``: a
            ``TransformBroadcaster`` of per-frame steps, then ``PackTrackInputs``).

    Returns:
        The composed pipeline: ``dict(img=[HxWx3], frame_id=[..], ...)`` -> packed inputs.
    """
    steps = [ConfigDict(step) for step in cfg.test_dataloader.dataset.pipeline]
    broadcaster = steps[0].copy()
    broadcaster.transforms = [
        step for step in broadcaster.transforms
        if str(step.get("type", "")).split(".")[-1] not in FILE_LOADERS
    ]  # fmt: skip
    return Compose([broadcaster, *steps[1:]])


def public_detector_note(model: Any) -> str | None:
    """One line saying that public detections leave a two-stage model's detector unused.

    A model with a Re-ID network on crops (``TwoStageTracker``) embeds the given boxes
    themselves: its detector is built from the config (random weights without a checkpoint)
    but never run, so no detector checkpoint is needed. A one-stage model's detector does run
    (it gives the embeddings), and gets no note.

    Args:
        model: The tracking model.

    Returns:
        The line, or None when the detector is used.
    """
    if not hasattr(model, "reid"):
        return None
    detector = type(getattr(model, "detector", None)).__name__
    return (
        f"detector: {detector} not run (public detections; {type(model).__name__} embeds the "
        "given boxes with its Re-ID network), so no detector checkpoint is needed"
    )


def public_detection_embeddings(
    model: Any,
    frame: torch.Tensor,
    frame_sample: Any,
    detections: np.ndarray,
    min_iou: float = 0.5,
    max_candidates: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Appearance embeddings of one frame's public detections (the network part, no tracker).

    A model with a Re-ID network (``TwoStageTracker``) embeds the crops of every given box (from
    the original frame when the pipeline kept it as ``ori_img``, else the network input); a
    one-stage model gives each box the embedding of its most-overlapping detector candidate
    (no score threshold, no NMS) and drops the boxes no candidate overlaps by ``min_iou``.

    Args:
        model: The tracking model (``TDT``, ``TwoStageTracker``, ``FairMOT``), in eval mode.
        frame: The preprocessed frame [1, C, H, W] (``data_preprocessor`` output).
        frame_sample: The frame's ``DetDataSample`` (``scale_factor`` in its metainfo).
        detections: [N, 5] ``x1, y1, x2, y2, score`` in original frame pixels.
        min_iou: One-stage models: least IoU with a candidate to borrow its embedding.
        max_candidates: One-stage models: candidate boxes kept per frame.

    Returns:
        ``boxes`` [M, 4] (frame pixels), ``scores`` [M] and ``embeddings`` [M, D] of the kept
        detections (M = N for a Re-ID model), in the order given.
    """
    scale = frame_sample.metainfo["scale_factor"]
    boxes = torch.as_tensor(detections[:, :4], dtype=torch.float32, device=frame.device)
    scores = torch.as_tensor(detections[:, 4], dtype=torch.float32, device=frame.device)
    boxes_in = scale_boxes(boxes.clone(), scale)  # frame pixels -> network input pixels
    if hasattr(model, "reid"):
        original = frame_sample.metainfo.get("ori_img")
        if original is not None and hasattr(model, "original_frame"):
            # the original frame the pipeline kept (ResizeKeepOriginal): crops in its pixels
            (embeddings,) = model.reid(model.original_frame(original, frame.device), [boxes])
            return boxes, scores, embeddings
        raw = recover_raw_frames(
            frame, model.data_preprocessor, model.loaded_channel_order, model.reid.channel_order
        )
        (embeddings,) = model.reid(raw, [boxes_in])
        return boxes, scores, embeddings
    detector = model.detector
    head_cfg = detector.bbox_head.test_cfg
    # every anchor is a candidate: no score threshold and no suppression (IoU 1)
    detector.bbox_head.test_cfg = head_cfg.copy()
    detector.bbox_head.test_cfg.update(
        dict(
            score_thr=0.0,
            nms_pre=max_candidates,
            max_per_img=max_candidates,
            nms=dict(type="nms", iou_threshold=1.0),
        )
    )
    try:
        (pred,) = detector.predict(frame, [frame_sample], rescale=False)
    finally:
        detector.bbox_head.test_cfg = head_cfg
    candidates = pred.pred_instances
    if "embeddings" not in candidates or len(candidates) == 0:
        keep = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
        embeddings = boxes.new_zeros((0, 1))
    else:
        overlaps = bbox_overlaps(boxes_in, candidates.bboxes)
        best_iou, best = overlaps.max(dim=1)
        keep = best_iou >= min_iou
        embeddings = candidates.embeddings[best[keep]]
    return boxes[keep], scores[keep], embeddings


class VideoTracker:
    """A tracking model built from a config and a checkpoint, fed one BGR frame at a time.

    Args:
        config: Tracking config path (``TDT``, ``TwoStageTracker``, ``FairMOT``, mmdet's
            ``ByteTrack`` ...).
        checkpoint: Checkpoint path (or None when the config's parts load their own weights).
        device: ``'cpu'`` or ``'cuda:0'``.
        cfg_options: Config overrides.
        min_iou: Public detections (one-stage models): least IoU with a candidate box to borrow
            its embedding.
        max_candidates: Public detections (one-stage models): candidate boxes kept per frame.
    """

    def __init__(
        self,
        config: str,
        checkpoint: str | None,
        device: str = "cpu",
        cfg_options: dict | None = None,
        min_iou: float = 0.5,
        max_candidates: int = 1000,
    ) -> None:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        # mmdet's init_track_model builds in whatever scope is current; a script has none yet
        init_default_scope(cfg.get("default_scope", "mmdet"))
        self.model = init_track_model(cfg, checkpoint, device=device)
        self.pipeline = frame_test_pipeline(self.model.cfg)
        self.min_iou = min_iou
        self.max_candidates = max_candidates

    def _prepare(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> dict:
        # uint8, as LoadImageFromFile gives tools/test.py
        data = dict(
            img=[image],
            frame_id=[frame_id],
            ori_shape=[image.shape[:2]],
            img_id=[frame_id + 1],
            ori_video_length=[video_len],
        )
        packed = self.pipeline(data)
        if fps is not None:  # whatever meta_keys the config's PackTrackInputs packs
            for frame_sample in packed["data_samples"]:
                frame_sample.set_metainfo(dict(fps=float(fps)))
        return default_collate([packed])

    def describe_thresholds(self, fps: float | None = None, public_dets: bool = False) -> str:
        """See :func:`describe_thresholds` (of this tracker's model).

        Args:
            fps: The video's frame rate (for the lost-track buffer), if known.
            public_dets: Whether public detections replace the model's.

        Returns:
            One line.
        """
        return describe_thresholds(self.model, fps, public_dets)

    @torch.no_grad()
    def track(
        self, image: np.ndarray, frame_id: int, video_len: int, fps: float | None = None
    ) -> InstanceData:
        """Track one frame with the model's own detections.

        Args:
            image: BGR frame [H, W, 3] uint8.
            frame_id: 0-based index in the video (0 resets the tracker).
            video_len: Number of frames of the video.
            fps: The video's frame rate, given to the tracker in the frame's metainfo
                (``JDETracker``: its lost-track buffer); None keeps the config's rate.

        Returns:
            ``bboxes`` [M, 4] xyxy in frame pixels, ``scores`` [M], ``instances_id`` [M].
        """
        sample = self.model.test_step(self._prepare(image, frame_id, video_len, fps))[0]
        return sample[0].pred_track_instances

    @torch.no_grad()
    def track_public(
        self,
        image: np.ndarray,
        frame_id: int,
        video_len: int,
        detections: np.ndarray,
        fps: float | None = None,
    ) -> InstanceData:
        """Track one frame's public detections with the model's embeddings.

        Args:
            image: BGR frame [H, W, 3] uint8.
            frame_id: 0-based index in the video (0 resets the tracker).
            video_len: Number of frames of the video.
            detections: [N, 5] ``x1, y1, x2, y2, score`` in frame pixels.
            fps: The video's frame rate for the tracker (None keeps the config's rate).

        Returns:
            ``bboxes`` [M, 4] (each one of ``detections``' boxes), ``scores`` [M],
            ``instances_id`` [M].
        """
        model = self.model
        if not hasattr(model, "tracker") or not hasattr(model.tracker, "track_detections"):
            raise TypeError(
                f"{type(model).__name__} does not expose a JDETracker-style tracker; public "
                "detections need a TDT, TwoStageTracker or FairMOT model"
            )
        data = model.data_preprocessor(self._prepare(image, frame_id, video_len, fps), False)
        boxes, scores, embeddings = public_detection_embeddings(
            model,
            data["inputs"][:, 0].contiguous(),
            data["data_samples"][0][0],
            detections,
            self.min_iou,
            self.max_candidates,
        )
        tracker = model.tracker
        output_boxes = tracker.output_boxes
        tracker.output_boxes = "detection"  # report the given boxes, not Kalman estimates
        try:
            return tracker.track_detections(
                bboxes=boxes,
                scores=scores,
                frame_id=frame_id,
                embeddings=embeddings,
                frame_rate=fps,
            )
        finally:
            tracker.output_boxes = output_boxes
