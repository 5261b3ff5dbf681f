"""Grid search over tracker parameters that runs the network once per frame.

Used by ``tools/analysis/mot_param_search.py``. The thresholds of :class:`JDETracker` are
FairMOT's, chosen for FairMOT's detector scores; another detector (or public detections with
another score scale) needs its own. Tracking a validation set once per setting would run the
detector (and, two-stage, the Re-ID network) once per setting, although only the association
changes. Here the network runs once per frame:

1. **Network pass** (:func:`collect_network_outputs`). The config's test dataloader is run
   through the model's own ``test_step`` exactly as ``tools/test.py`` runs it, except that the
   model's tracker is replaced by a recorder that keeps what the tracker would be given: each
   frame's ``DetDataSample`` with its ``pred_instances`` (boxes, scores, labels, embeddings).
   Only detections with ``score > min(obj_score_thr over the grid)`` are kept: ``JDETracker``
   drops every other one first thing, for every setting of the grid, and ``TwoStageTracker``
   asks its tracker for that threshold to decide which detections to embed (it embeds the
   detections of the lowest threshold, which covers every setting). With public detections
   (``public_dets``) the detector's boxes are replaced by the given ones, and their embeddings
   come from :func:`mmdistillmot.apis.video_tracking.public_detection_embeddings`, as in
   ``tools/demo/track_video.py --public-dets``.
2. **Replay** (:func:`replay_setting`), per setting: a fresh ``JDETracker`` built from the
   config's ``model.tracker`` with the setting merged in (as ``--cfg-options`` would), fed the
   recorded frames in order; its tracks go into the recorded samples.
3. **Scoring** (:func:`score_setting`): the config's ``test_evaluator`` (``MOTChallengeMetric``:
   TrackEval's HOTA, CLEAR and Identity), fed the samples as mmengine's ``TestLoop`` feeds it.

So a setting scores what ``tools/test.py CONFIG CKPT --cfg-options SETTING`` scores (the tests
check it), for one network pass plus one association and one TrackEval run per setting.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmdet.registry import MODELS
from mmengine.config import Config, DictAction
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.amp import autocast
from mmengine.structures import InstanceData

from mmdistillmot.apis.video_tracking import (
    load_public_detections,
    public_detection_embeddings,
    tracks_to_mot_rows,
)
from mmdistillmot.datasets.mot_files import make_mot_rows, write_mot_results
from mmdistillmot.models.trackers.jde_tracker import JDETracker
from mmdistillmot.utils.progress import progress_bar

__all__ = [
    "HEADLINE_METRICS",
    "NetworkCache",
    "SearchResult",
    "SearchRow",
    "cfg_options_line",
    "collect_network_outputs",
    "find_public_detection_file",
    "format_table",
    "grid_settings",
    "headline",
    "parse_param",
    "replay_setting",
    "run_search",
    "score_setting",
    "tracker_config",
    "write_setting_results",
]

#: Prefix every searched key needs: only the association is replayed.
TRACKER_PREFIX = "model.tracker."
#: The table's columns, in order: our name -> the metric's key suffix (MOTChallengeMetric).
HEADLINE_METRICS = {"HOTA": "HOTA", "MOTA": "MOTA", "IDF1": "IDF1", "IDs": "IDSW"}


def parse_param(text: str) -> tuple[str, list[Any]]:
    """One ``--param KEY=V1,V2,...`` into its key and values.

    Values are read as ``--cfg-options`` reads them (mmengine's ``DictAction``): ints, floats,
    ``True``/``False``/``None``, else strings.

    Args:
        text: E.g. ``'model.tracker.obj_score_thr=0.3,0.4,0.5'``.

    Returns:
        The key and its values, in the given order.

    Raises:
        ValueError: Not ``KEY=V1,...``, a key outside ``model.tracker.``, an empty or repeated
            value.
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ValueError(f"--param takes KEY=V1,V2,...; got {text!r}")
    if not key.startswith(TRACKER_PREFIX) or key == TRACKER_PREFIX:
        raise ValueError(
            f"--param {key}: only tracker parameters ({TRACKER_PREFIX}NAME) can be searched: "
            "the network runs once and its outputs are replayed, so a setting that changes them "
            "(the detector's score_thr, the Re-ID network, the input size) belongs in "
            "--cfg-options"
        )
    items = [item.strip() for item in values.split(",")]
    if any(not item for item in items):
        raise ValueError(f"--param {key}: empty value in {values!r}")
    parsed = [DictAction._parse_int_float_bool(item) for item in items]
    if len(set(map(repr, parsed))) != len(parsed):
        raise ValueError(f"--param {key}: a value is repeated in {values!r}")
    return key, parsed


def grid_settings(params: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the values (the first key varies slowest), as ``{key: value}``.

    Args:
        params: ``(key, values)`` pairs from :func:`parse_param`.

    Returns:
        ``prod(len(values))`` settings.

    Raises:
        ValueError: No parameter, or a key given twice.
    """
    if not params:
        raise ValueError("give at least one --param KEY=V1,V2,...")
    keys = [key for key, _ in params]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"--param given twice for {', '.join(repeated)}")
    return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in params))]


def tracker_config(cfg: Config, setting: dict[str, Any]) -> Any:
    """``cfg.model.tracker`` with ``setting`` merged in, as ``--cfg-options`` merges it.

    Args:
        cfg: The full config (not modified).
        setting: ``{'model.tracker.KEY': value}``.

    Returns:
        The tracker's ``ConfigDict``.
    """
    merged = Config(dict(model=dict(tracker=copy.deepcopy(cfg.model.tracker))))
    merged.merge_from_dict(setting)
    return merged.model.tracker


def _check_setting_keys(cfg: Config, settings: Sequence[dict[str, Any]]) -> None:
    """Refuse keys that no ``JDETracker`` argument takes (before the network pass, not after)."""
    tracker_type = cfg.model.get("tracker", {}).get("type")
    if tracker_type != "JDETracker":
        raise ValueError(
            f"the config's model.tracker is {tracker_type!r}: the replay supports JDETracker "
            "(TDT, TwoStageTracker, FairMOT configs)"
        )
    accepted = set(inspect.signature(JDETracker.__init__).parameters) - {"self"}
    for key in settings[0]:
        name = key[len(TRACKER_PREFIX) :].split(".")[0]
        if name not in accepted:
            close = sorted(a for a in accepted if name.split("_")[0] in a)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"--param {key}: JDETracker has no argument {name!r}{hint}")


def find_public_detection_file(public_dir: str | Path, sequence: str) -> Path:
    """The detection file of one sequence: ``DIR/SEQ/det/det.txt`` or else ``DIR/SEQ.txt``.

    Args:
        public_dir: A MOTChallenge split (``SEQ/det/det.txt`` per sequence) or a folder of
            ``SEQ.txt`` files.
        sequence: The sequence name (its folder in the dataset).

    Returns:
        The file.

    Raises:
        FileNotFoundError: Neither exists (both paths named).
    """
    root = Path(public_dir)
    candidates = [root / sequence / "det" / "det.txt", root / f"{sequence}.txt"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"no public detections for sequence {sequence}: neither {candidates[0]} nor "
        f"{candidates[1]} exists"
    )


def _sequence_name(sample: Any) -> str:
    """The sequence of a frame, as mmdet's MOTChallengeMetric names it (``SEQ/img1/x.jpg``)."""
    return Path(sample.metainfo["img_path"]).parts[-3]


@dataclass
class _Frame:
    """What the tracker gets for one frame.

    Attributes:
        sample: The frame's ``DetDataSample`` (also inside the batch's outputs); its
            ``pred_instances`` (private detections) are what ``JDETracker.track`` reads, and
            the replay writes ``pred_track_instances`` into it.
        frame_id: 0-based index in its video.
        fps: The video's frame rate from the frame's metainfo (None: the config's).
        public: Public detections: ``bboxes`` [M, 4] (frame pixels), ``scores`` [M] and
            ``embeddings`` [M, D]; None for the model's own detections.
    """

    sample: Any
    frame_id: int
    fps: float | None
    public: dict[str, torch.Tensor] | None = None


@dataclass
class NetworkCache:
    """The network's outputs over a test set, ready to be replayed.

    Attributes:
        batches: Per dataloader batch: the model's outputs (a list of ``TrackDataSample``, as
            ``test_step`` returns them) and its frames, in the order the tracker sees them.
        dataset_size: ``len(dataset)`` (the size ``Evaluator.evaluate`` is given).
        dataset_meta: The dataset's metainfo (the evaluator's ``dataset_meta``).
        num_frames: Frames the network ran on (once each).
        min_obj_score_thr: Detections at or below it were dropped (private detections).
        seconds: Wall time of the pass.
    """

    batches: list[tuple[list[Any], list[_Frame]]] = field(default_factory=list)
    dataset_size: int = 0
    dataset_meta: dict | None = None
    num_frames: int = 0
    min_obj_score_thr: float = -np.inf
    seconds: float = 0.0

    @property
    def public(self) -> bool:
        """Whether the frames hold public detections."""
        return any(f.public is not None for _, frames in self.batches for f in frames)


class _TrackerInputRecorder:
    """Stands in for the model's tracker during the network pass; keeps what it is given.

    Args:
        obj_score_thr: The lowest ``obj_score_thr`` of the grid: detections at or below it are
            dropped (no setting uses them); ``TwoStageTracker`` reads it to choose the
            detections it embeds.
    """

    def __init__(self, obj_score_thr: float) -> None:
        self.obj_score_thr = obj_score_thr
        self.frames: list[_Frame] = []

    def track(self, data_sample: Any = None, **kwargs: Any) -> InstanceData:
        """Record one frame; return no tracks (nothing is scored in the network pass).

        Args:
            data_sample: The frame's ``DetDataSample`` with ``pred_instances``.
            **kwargs: What the model passes besides (``model``, ``img``: unused by
                ``JDETracker``).

        Returns:
            Empty tracks (``bboxes`` [0, 4], ``scores``, ``labels``, ``instances_id`` [0]).
        """
        pred = data_sample.pred_instances
        # the same comparison JDETracker makes (numpy, the scores' own float type)
        keep = pred.scores.detach().cpu().numpy() > self.obj_score_thr
        data_sample.pred_instances = pred[torch.from_numpy(keep).to(pred.scores.device)]
        self.frames.append(
            _Frame(
                sample=data_sample,
                frame_id=int(data_sample.metainfo["frame_id"]),
                fps=data_sample.metainfo.get("fps", None),
            )
        )
        device = pred.scores.device
        return InstanceData(
            bboxes=torch.zeros((0, 4), device=device),
            scores=torch.zeros(0, device=device),
            labels=torch.zeros(0, dtype=torch.long, device=device),
            instances_id=torch.zeros(0, dtype=torch.long, device=device),
        )


@contextlib.contextmanager
def _recording_tracker(model: Any, obj_score_thr: float) -> Iterator[_TrackerInputRecorder]:
    """Swap ``model.tracker`` for a recorder inside the block (restored afterwards)."""
    tracker = model.tracker
    recorder = _TrackerInputRecorder(obj_score_thr)
    model.tracker = recorder
    try:
        yield recorder
    finally:
        model.tracker = tracker


def _check_frames_are_outputs(outputs: list[Any], frames: list[_Frame], name: str) -> None:
    """The replay writes tracks into the recorded samples: they must be the output frames."""
    output_ids = {id(s) for track in outputs for s in track.video_data_samples}
    if not frames or any(id(f.sample) not in output_ids for f in frames):
        raise RuntimeError(
            f"{name}.test_step did not hand its output frames to the tracker (or tracked no "
            "frame): its association cannot be replayed"
        )


def collect_network_outputs(
    model: Any,
    dataloader: Any,
    min_obj_score_thr: float,
    public_dets_dir: str | Path | None = None,
    fp16: bool = False,
    progress: bool = True,
    unit: str = "frame",
) -> NetworkCache:
    """Run the network once over the test set and keep what the tracker would be given.

    Args:
        model: The tracking model (``TDT``, ``TwoStageTracker``, ``FairMOT``; a model wrapper
            is unwrapped for the tracker swap), weights loaded.
        dataloader: The config's test dataloader (``TrackImgSampler``: one frame per batch).
        min_obj_score_thr: The lowest ``obj_score_thr`` of the grid.
        public_dets_dir: Track these public detections (see :func:`find_public_detection_file`)
            instead of the detector's.
        fp16: Run under autocast, as ``test_cfg.fp16`` makes ``TestLoop`` do.
        progress: Show a progress bar (frames/s).
        unit: The progress bar's name of one batch.

    Returns:
        The cache.

    Raises:
        FileNotFoundError: A sequence without public detections.
        RuntimeError: The model's frames cannot be replayed.
    """
    runnable = model
    model = model.module if is_model_wrapper(model) else model
    cache = NetworkCache(
        dataset_size=len(dataloader.dataset),
        dataset_meta=getattr(dataloader.dataset, "metainfo", None),
        min_obj_score_thr=min_obj_score_thr,
    )
    public: dict[str, dict[int, np.ndarray]] = {}
    start = time.perf_counter()
    model.eval()
    batches = progress_bar(dataloader, desc="network pass", unit=unit, disable=not progress)
    with torch.no_grad():
        for batch in batches:
            if public_dets_dir is None:
                recording = _recording_tracker(model, min_obj_score_thr)
                with recording as recorder, autocast(enabled=fp16):
                    outputs = runnable.test_step(batch)
                _check_frames_are_outputs(outputs, recorder.frames, type(model).__name__)
                frames = recorder.frames
            else:
                data = model.data_preprocessor(batch, False)
                outputs, frames = data["data_samples"], []
                for video in outputs:
                    for index in range(len(video)):
                        sample = video[index]
                        seq = _sequence_name(sample)
                        if seq not in public:
                            path = find_public_detection_file(public_dets_dir, seq)
                            public[seq] = load_public_detections(str(path))
                        frame_id = int(sample.metainfo["frame_id"])
                        dets = public[seq].get(frame_id + 1, np.zeros((0, 5)))
                        with autocast(enabled=fp16):
                            boxes, scores, embeddings = public_detection_embeddings(
                                model, data["inputs"][:, index].contiguous(), sample, dets
                            )
                        frames.append(
                            _Frame(
                                sample=sample,
                                frame_id=frame_id,
                                fps=sample.metainfo.get("fps", None),
                                public=dict(bboxes=boxes, scores=scores, embeddings=embeddings),
                            )
                        )
            cache.batches.append((outputs, frames))
            cache.num_frames += len(frames)
    cache.seconds = time.perf_counter() - start
    return cache


def replay_setting(cache: NetworkCache, tracker_cfg: Any) -> Iterator[list[Any]]:
    """Associate the cached frames with a fresh tracker; yield each batch's outputs.

    Each frame's ``pred_track_instances`` is set before its batch is yielded, so the outputs
    are what ``test_step`` returns with that tracker.

    Args:
        cache: From :func:`collect_network_outputs`.
        tracker_cfg: The ``JDETracker`` config of the setting.

    Yields:
        Per batch, the list of ``TrackDataSample`` (as ``test_step`` returns it).
    """
    tracker = MODELS.build(copy.deepcopy(tracker_cfg))
    if cache.public:
        tracker.output_boxes = "detection"  # report the given boxes (public protocol)
    for outputs, frames in cache.batches:
        for frame in frames:
            if frame.public is None:
                tracks = tracker.track(data_sample=frame.sample)
            else:
                tracks = tracker.track_detections(
                    bboxes=frame.public["bboxes"],
                    scores=frame.public["scores"],
                    frame_id=frame.frame_id,
                    embeddings=frame.public["embeddings"],
                    frame_rate=frame.fps,
                )
            frame.sample.pred_track_instances = tracks
        yield outputs


def score_setting(cache: NetworkCache, tracker_cfg: Any, evaluator: Any) -> dict[str, Any]:
    """Replay one setting and score it with ``evaluator``, as mmengine's ``TestLoop`` does.

    Args:
        cache: From :func:`collect_network_outputs`.
        tracker_cfg: The ``JDETracker`` config of the setting.
        evaluator: A fresh mmengine ``Evaluator`` (the config's ``test_evaluator``).

    Returns:
        The evaluator's metrics (e.g. ``motchallenge-metric/HOTA``: fractions in [0, 1]).
    """
    evaluator.dataset_meta = cache.dataset_meta
    for outputs in replay_setting(cache, tracker_cfg):
        evaluator.process(data_samples=outputs, data_batch=None)
    # TrackEval prints its configuration, timings and tables for every evaluation
    with contextlib.redirect_stdout(io.StringIO()):
        return dict(evaluator.evaluate(cache.dataset_size))


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """HOTA, MOTA, IDF1 (fractions) and IDs (identity switches) from an evaluator's metrics.

    Args:
        metrics: Keys ending in ``/HOTA``, ``/MOTA``, ``/IDF1``, ``/IDSW`` (any prefix).

    Returns:
        ``{'HOTA', 'MOTA', 'IDF1', 'IDs'}`` as floats.

    Raises:
        KeyError: A metric is missing (the evaluator needs HOTA, CLEAR and Identity).
    """
    found = {}
    for name, suffix in HEADLINE_METRICS.items():
        values = [v for k, v in metrics.items() if k.split("/")[-1] == suffix]
        if not values:
            raise KeyError(
                f"the evaluator gave no {suffix} (metrics: {sorted(metrics)}); the test_evaluator "
                "needs metric=['HOTA', 'CLEAR', 'Identity']"
            )
        found[name] = float(values[0])
    return found


@dataclass
class SearchRow:
    """One setting and its scores.

    Attributes:
        setting: ``{key: value}`` (keys under ``model.tracker.``).
        metrics: The evaluator's metrics (all of them).
        seconds: Replay and scoring time.
    """

    setting: dict[str, Any]
    metrics: dict[str, Any]
    seconds: float

    @property
    def scores(self) -> dict[str, float]:
        """HOTA, MOTA, IDF1 (fractions) and IDs."""
        return headline(self.metrics)


@dataclass
class SearchResult:
    """All rows, best first (HOTA, then IDF1, then MOTA, higher first; ties in grid order).

    Attributes:
        rows: The settings with their scores.
        cache: The network's cached outputs (for :func:`write_setting_results`).
        num_frames: Frames the network ran on.
        network_seconds: Time of the one network pass.
        replay_seconds: Time of all replays and scoring.
    """

    rows: list[SearchRow]
    cache: NetworkCache
    num_frames: int
    network_seconds: float
    replay_seconds: float

    @property
    def best(self) -> SearchRow:
        """The first row."""
        return self.rows[0]


def run_search(
    cfg: Config,
    checkpoint: str | None,
    settings: Sequence[dict[str, Any]],
    public_dets_dir: str | Path | None = None,
    progress: bool = True,
    quiet: bool = True,
) -> SearchResult:
    """Score every setting on the config's test set, with one network pass.

    The model, dataloader and weights come from mmengine's Runner as in ``tools/test.py`` (the
    config's ``test_dataloader``, ``test_evaluator``, ``test_cfg.fp16``; ``checkpoint`` loaded
    as ``load_from``).

    Args:
        cfg: The config, ``--cfg-options`` applied, ``work_dir`` set.
        checkpoint: The checkpoint (None: the config's parts load their own weights).
        settings: From :func:`grid_settings`.
        public_dets_dir: Track these public detections instead of the detector's.
        progress: Show progress bars.
        quiet: Keep what the Runner, the dataset and the checkpoint loader print to stdout
            while they are built off the screen (warnings and errors still show).

    Returns:
        The rows, best first.

    Raises:
        ValueError: The config's tracker is not a ``JDETracker`` or a key is not one of its
            arguments.
    """
    if not settings:
        raise ValueError("no setting to score")
    _check_setting_keys(cfg, settings)
    tracker_cfgs = [tracker_config(cfg, s) for s in settings]
    thresholds = [MODELS.build(copy.deepcopy(t)).obj_score_thr for t in tracker_cfgs]
    cfg = copy.deepcopy(cfg)
    cfg.load_from = checkpoint
    # pycocotools and mmengine print while building ("loading annotations into memory...")
    muted = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with muted:
        runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
        runner.load_or_resume()
        loop = runner.test_loop  # builds the test dataloader as tools/test.py's run does
    sampler = cfg.test_dataloader.get("sampler", {}).get("type", "")
    cache = collect_network_outputs(
        runner.model,
        loop.dataloader,
        min(thresholds),
        public_dets_dir=public_dets_dir,
        fp16=bool(getattr(loop, "fp16", False)),
        progress=progress,
        unit="frame" if sampler == "TrackImgSampler" else "video",
    )
    rows = []
    start = time.perf_counter()
    bar = progress_bar(
        total=len(settings), desc="replay + score", unit="setting", disable=not progress
    )
    for setting, tracker_cfg in zip(settings, tracker_cfgs):
        began = time.perf_counter()
        evaluator = runner.build_evaluator(copy.deepcopy(cfg.test_evaluator))
        metrics = score_setting(cache, tracker_cfg, evaluator)
        rows.append(SearchRow(dict(setting), metrics, time.perf_counter() - began))
        bar.update()
    bar.close()
    replay_seconds = time.perf_counter() - start
    scores = [row.scores for row in rows]
    order = sorted(
        range(len(rows)),
        key=lambda i: (-scores[i]["HOTA"], -scores[i]["IDF1"], -scores[i]["MOTA"], i),
    )
    return SearchResult(
        rows=[rows[i] for i in order],
        cache=cache,
        num_frames=cache.num_frames,
        network_seconds=cache.seconds,
        replay_seconds=replay_seconds,
    )


def cfg_options_line(setting: dict[str, Any]) -> str:
    """The setting as ``--cfg-options`` arguments: ``key=value key=value`` (in key order given).

    Args:
        setting: ``{key: value}``.

    Returns:
        One line that ``--cfg-options`` parses back to the same values.
    """
    return " ".join(f"{key}={value}" for key, value in setting.items())


def _short(key: str) -> str:
    return key[len(TRACKER_PREFIX) :] if key.startswith(TRACKER_PREFIX) else key


def format_table(rows: Sequence[SearchRow]) -> str:
    """The rows as a text table: rank, the searched values, HOTA, MOTA, IDF1 (%), IDs.

    Args:
        rows: Best first.

    Returns:
        The table (header, rule, one line per row).
    """
    keys = list(rows[0].setting) if rows else []
    names = [_short(k) for k in keys]
    widths = [max(len(n), *(len(str(r.setting[k])) for r in rows)) for n, k in zip(names, keys)]
    header = "  ".join(["rank"] + [n.rjust(w) for n, w in zip(names, widths)])
    header += "".join(f"{m:>9}" for m in HEADLINE_METRICS)
    lines = [header, "-" * len(header)]
    for rank, row in enumerate(rows, start=1):
        scores = row.scores
        cells = [f"{rank:>4}"] + [str(row.setting[k]).rjust(w) for k, w in zip(keys, widths)]
        line = "  ".join(cells)
        line += "".join(f"{100 * scores[m]:>9.2f}" for m in ("HOTA", "MOTA", "IDF1"))
        line += f"{int(round(scores['IDs'])):>9d}"
        lines.append(line)
    return "\n".join(lines)


def write_setting_results(cache: NetworkCache, tracker_cfg: Any, out_dir: str | Path) -> list[Path]:
    """Replay one setting and write its MOTChallenge result files, ``OUT/SEQ.txt`` (ids from 1).

    Args:
        cache: From :func:`collect_network_outputs`.
        tracker_cfg: The ``JDETracker`` config of the setting.
        out_dir: Folder for the files (made if missing).

    Returns:
        The files written, one per sequence, in the order first seen.
    """
    rows: dict[str, list[np.ndarray]] = {}
    for outputs in replay_setting(cache, tracker_cfg):
        for track in outputs:
            for sample in track.video_data_samples:
                seq = _sequence_name(sample)
                frame_id = int(sample.metainfo["frame_id"])
                rows.setdefault(seq, []).append(
                    tracks_to_mot_rows(frame_id, sample.pred_track_instances)
                )
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for seq, parts in rows.items():
        path = Path(out_dir) / f"{seq}.txt"
        table = np.concatenate(parts) if parts else make_mot_rows([], [], np.zeros((0, 4)))
        write_mot_results(path, table)
        written.append(path)
    return written
