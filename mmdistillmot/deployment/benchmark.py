"""PyTorch and onnxruntime side by side: per-frame time of a student and of its ONNX export.

One process holds both: the PyTorch student (:func:`~.onnx_export.load_student`: a distiller
config gives its student) and its ONNX graph in onnxruntime
(:class:`~.onnx_runner.OnnxVideoTracker`), at the same thread count (``torch.set_num_threads``
and onnxruntime's ``intra_op_num_threads``), whose idle threads sleep in both (PyTorch's
OpenMP under ``OMP_WAIT_POLICY=PASSIVE``, which the tool sets; onnxruntime without spinning),
so that one engine's spinning threads do not slow the other's next run. Four runs go over
the same pre-decoded frames:

* ``PyTorch detect``: test pipeline + data preprocessor (:class:`~.onnx_runner.FramePreparer`)
  + the network and the head's post-processing (``detector.predict`` for TDT,
  ``predict_detections`` for FairMOT);
* ``ONNX Runtime detect``: the same pipeline and preprocessor + the graph + the numpy
  post-processing (:meth:`OnnxVideoTracker.detect`);
* ``PyTorch detect+track``: the model's ``test_step`` (what ``track_video.py`` runs), tracker
  included;
* ``ONNX Runtime detect+track``: :meth:`OnnxVideoTracker.track`, the same ``JDETracker``.

Within every frame the four take turns in an order that rotates from frame to frame, so a
change of machine load hits them alike. The first ``warmup`` frames run untimed first; the
timed pass starts again at frame 0 (a new video for both trackers). Image decoding is not
timed. Both trackers' rows are compared frame by frame (same track ids, largest box
difference), so the table says whether the two engines did the same work.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdistillmot.deployment.onnx_export import export_onnx, load_student
from mmdistillmot.deployment.onnx_runner import (
    FramePreparer,
    OnnxVideoTracker,
    import_onnxruntime,
    preprocessed_shape,
)

__all__ = ["StageRun", "TorchStudent", "format_table", "run_benchmark"]


@dataclass
class StageRun:
    """One timed run: an engine at a stage, and its per-frame measurements.

    Attributes:
        engine: ``"PyTorch"`` or ``"ONNX Runtime"``.
        stage: ``"detect"`` or ``"detect+track"``.
        step: ``(image, frame_id, video_len) -> boxes`` of the frame.
        times: Seconds per timed frame.
        boxes: Detections (detect) or tracked boxes (detect+track) per timed frame.
    """

    engine: str
    stage: str
    step: Callable[[np.ndarray, int, int], Any]
    times: list[float] = field(default_factory=list)
    boxes: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """``engine``, ``stage``, ``frames``, ``median_ms``, ``mean_ms``, ``fps``, ``boxes``."""
        total = sum(self.times)
        return dict(
            engine=self.engine,
            stage=self.stage,
            frames=len(self.times),
            median_ms=1000 * statistics.median(self.times) if self.times else float("nan"),
            mean_ms=1000 * total / len(self.times) if self.times else float("nan"),
            fps=len(self.times) / total if total > 0 else float("nan"),
            boxes_per_frame=float(np.mean(self.boxes)) if self.boxes else 0.0,
        )


class TorchStudent:
    """The PyTorch student, fed one decoded frame at a time (detect only, or detect + track).

    Args:
        config: The config (a distillation config: its student is built, not the teacher).
        checkpoint: Its checkpoint (None: random initialisation).
        cfg_options: Config overrides.
    """

    def __init__(
        self, config: str | Config, checkpoint: str | None, cfg_options: dict | None = None
    ) -> None:
        model: Any = load_student(config, checkpoint, cfg_options)
        self.model = model
        self.preparer = FramePreparer(model.cfg, model.data_preprocessor)

    @torch.no_grad()
    def detect(self, image: np.ndarray, frame_id: int, video_len: int) -> InstanceData:
        """One frame's detections in original pixels (no tracker).

        Args:
            image: BGR frame [H, W, 3] uint8.
            frame_id: 0-based index in the video.
            video_len: Number of frames of the video.

        Returns:
            ``bboxes``, ``scores``, ``labels``, ``embeddings``.
        """
        inputs, sample = self.preparer(image, frame_id, video_len)
        model = self.model
        if hasattr(model, "detector"):  # TDT
            return model.detector.predict(inputs, [sample], rescale=True)[0].pred_instances
        return model.predict_detections(inputs, [sample], rescale=True)[0]  # FairMOT

    @torch.no_grad()
    def track(self, image: np.ndarray, frame_id: int, video_len: int) -> InstanceData:
        """Track one frame with the model's ``test_step`` (as ``VideoTracker.track``).

        Returns:
            ``bboxes`` [M, 4] xyxy in frame pixels, ``scores`` [M], ``instances_id`` [M].
        """
        batch = self.preparer.pack(image, frame_id, video_len)
        return self.model.test_step(batch)[0][0].pred_track_instances


def _track_rows(tracks: InstanceData) -> tuple[np.ndarray, np.ndarray]:
    ids = tracks.instances_id.detach().cpu().numpy().reshape(-1)
    boxes = tracks.bboxes.detach().cpu().numpy().reshape(-1, 4)
    return ids, boxes


def run_benchmark(
    config: str,
    checkpoint: str | None,
    frames: list[np.ndarray],
    onnx_file: str | Path | None = None,
    cfg_options: dict | None = None,
    threads: int | None = None,
    warmup: int = 2,
) -> dict[str, Any]:
    """Time the PyTorch student and its ONNX export on the same frames, alternating.

    Args:
        config: The student's config (or a distillation config around it).
        checkpoint: Its checkpoint (None: random initialisation, speed only).
        frames: Decoded BGR frames of one video, in order.
        onnx_file: The student's export (None: exported here from the loaded weights to a
            temporary file, so both engines run the same weights, at the input shape of the
            first frame after the test pipeline and preprocessor: frames of that size then
            give exactly the PyTorch numbers, without the padding of a larger default shape).
        cfg_options: Config overrides (both engines).
        threads: CPU threads of both engines (None: torch's current count).
        warmup: Untimed frames first (each run).

    Returns:
        ``threads``, ``frames``, ``frame_size``, ``onnx``, ``exported_here``, ``input_shape``
        (the graph's ``[H, W]``), ``load_average``
        (before, after), ``rows`` (:meth:`StageRun.summary` of the four runs), ``speedup``
        (``detect`` and ``detect+track``: PyTorch time / ONNX Runtime time), ``tracks_identical``
        and ``max_box_diff`` (the two trackers' rows over the timed frames).

    Raises:
        ValueError: No frames, or a negative warm-up.
    """
    if not frames:
        raise ValueError("no frames to benchmark")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    if threads:
        torch.set_num_threads(int(threads))
    threads = torch.get_num_threads()
    load_before = os.getloadavg()
    student = TorchStudent(config, checkpoint, cfg_options)
    with tempfile.TemporaryDirectory() as tmp:
        exported_here = onnx_file is None
        if onnx_file is None:
            onnx_file = Path(tmp) / "student.onnx"
            shape = preprocessed_shape(
                student.model.cfg, student.model.data_preprocessor, frames[0]
            )
            export_onnx(student.model, onnx_file, shape)
        # idle threads sleep in both engines (OMP_WAIT_POLICY=PASSIVE for PyTorch's OpenMP)
        runtime = OnnxVideoTracker(
            config, onnx_file, cfg_options, num_threads=threads, spinning=False
        )
        torch_tracks: list[tuple[np.ndarray, np.ndarray]] = []
        onnx_tracks: list[tuple[np.ndarray, np.ndarray]] = []

        def torch_track(image: np.ndarray, i: int, n: int) -> InstanceData:
            tracks = student.track(image, i, n)
            torch_tracks.append(_track_rows(tracks))
            return tracks

        def onnx_track(image: np.ndarray, i: int, n: int) -> InstanceData:
            tracks = runtime.track(image, i, n)
            onnx_tracks.append(_track_rows(tracks))
            return tracks

        runs = [
            StageRun("PyTorch", "detect", student.detect),
            StageRun("ONNX Runtime", "detect", lambda im, i, n: runtime.detect(im, i, n)[0]),
            StageRun("PyTorch", "detect+track", torch_track),
            StageRun("ONNX Runtime", "detect+track", onnx_track),
        ]
        count = len(frames)
        for frame_id in range(min(warmup, count)):
            for run in runs:
                run.step(frames[frame_id], frame_id, count)
        torch_tracks.clear()
        onnx_tracks.clear()
        for frame_id, image in enumerate(frames):
            shift = frame_id % len(runs)
            for run in runs[shift:] + runs[:shift]:
                start = time.perf_counter()
                result = run.step(image, frame_id, count)
                run.times.append(time.perf_counter() - start)
                scores = getattr(result, "scores", None)
                run.boxes.append(0 if scores is None else len(scores))
    identical, max_diff = True, 0.0
    for (ids_a, boxes_a), (ids_b, boxes_b) in zip(torch_tracks, onnx_tracks):
        if len(ids_a) != len(ids_b) or not np.array_equal(ids_a, ids_b):
            identical = False
            continue
        if len(boxes_a):
            max_diff = max(max_diff, float(np.abs(boxes_a - boxes_b).max()))
    rows = [run.summary() for run in runs]
    by_key = {(row["engine"], row["stage"]): row for row in rows}
    speedup = {
        stage: by_key[("PyTorch", stage)]["mean_ms"] / by_key[("ONNX Runtime", stage)]["mean_ms"]
        for stage in ("detect", "detect+track")
    }
    height, width = frames[0].shape[:2]
    return dict(
        config=config,
        checkpoint=checkpoint,
        onnx=None if exported_here else str(onnx_file),
        exported_here=exported_here,
        threads=threads,
        versions=dict(torch=torch.__version__, onnxruntime=import_onnxruntime().__version__),
        idle_threads="sleep (OMP_WAIT_POLICY=PASSIVE; onnxruntime allow_spinning=0)",
        frames=len(frames),
        warmup=min(warmup, count),
        frame_size=[width, height],
        input_shape=list(runtime.detector.info.input_shape),
        load_average=[round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        rows=rows,
        speedup=speedup,
        tracks_identical=identical,
        max_box_diff=max_diff,
    )


def format_table(results: dict[str, Any]) -> str:
    """The results as a printable table (one row per engine and stage), with a summary.

    Args:
        results: What :func:`run_benchmark` returned.

    Returns:
        The lines, joined.
    """
    width, height = results["frame_size"]
    lines = [
        f"{results['frames']} frames of {width}x{height} (+{results['warmup']} warm-up), "
        f"{results['threads']} threads for both engines, ONNX input "
        f"{results['input_shape'][0]}x{results['input_shape'][1]}, load average "
        f"{results['load_average'][0]} -> {results['load_average'][1]}",
        f"{'engine':<14}{'stage':<14}{'ms/frame (median)':>19}{'ms/frame (mean)':>17}"
        f"{'FPS':>9}{'boxes/frame':>13}",
    ]
    lines.append("-" * len(lines[-1]))
    for row in results["rows"]:
        lines.append(
            f"{row['engine']:<14}{row['stage']:<14}{row['median_ms']:>19.1f}{row['mean_ms']:>17.1f}"
            f"{row['fps']:>9.2f}{row['boxes_per_frame']:>13.1f}"
        )
    speedup = results["speedup"]
    lines.append(
        f"ONNX Runtime speed-up (PyTorch time / ONNX Runtime time): detect "
        f"{speedup['detect']:.2f}x, detect+track {speedup['detect+track']:.2f}x"
    )
    same = "identical" if results["tracks_identical"] else "DIFFERENT"
    lines.append(f"tracks: {same} ids, largest box difference {results['max_box_diff']:.2e} px")
    return "\n".join(lines)
