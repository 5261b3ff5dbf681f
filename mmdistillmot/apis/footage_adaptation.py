"""Adapting a one-stage student to unlabelled footage: the training config and the work folder.

``tools/distill/adapt_to_footage.py`` runs four normal tools in a row (pseudo boxes, pseudo
embeddings, ``tools/train.py``, ``track_video.py``); this module holds what they share: where
each step writes inside the work folder (:class:`AdaptationLayout`) and the student's training
config pointed at the pseudo-labelled footage (:func:`footage_student_config`), written as a
whole config file that ``tools/train.py``, ``tools/test.py`` and ``track_video.py`` read like
any other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmengine.config import Config, ConfigDict

from mmdistillmot.apis.pseudo_labels import ANN_FILE

__all__ = ["AdaptationLayout", "footage_student_config", "iter_transforms"]


@dataclass(frozen=True)
class AdaptationLayout:
    """Where each step of an adaptation run writes, under ``work_dir``.

    Attributes:
        work_dir: The run's folder.
    """

    work_dir: Path

    @property
    def pseudo(self) -> Path:
        """Step 1: pseudo-labelled sequences and their CocoVID file."""
        return self.work_dir / "pseudo"

    @property
    def ann_file(self) -> Path:
        """The CocoVID file of the pseudo boxes."""
        return self.pseudo / ANN_FILE

    @property
    def store(self) -> Path:
        """Step 2: the teacher embedding store of the pseudo boxes."""
        return self.work_dir / "teacher_store"

    @property
    def config(self) -> Path:
        """The student's training config on the footage (written before step 3)."""
        return self.work_dir / "configs" / "student_footage.py"

    @property
    def student(self) -> Path:
        """Step 3: the student's work folder (checkpoints, logs)."""
        return self.work_dir / "student"

    def checkpoint(self, epochs: int) -> Path:
        """The student's checkpoint after ``epochs`` epochs."""
        return self.student / f"epoch_{epochs}.pth"

    @property
    def tracks(self) -> Path:
        """Step 4: per input, the rendered video and the MOTChallenge result file."""
        return self.work_dir / "tracks"

    @property
    def logs(self) -> Path:
        """Each step's whole output."""
        return self.work_dir / "logs"


def iter_transforms(pipeline: list[Any]) -> Iterator[ConfigDict]:
    """Every transform of a pipeline, those inside wrappers (``transforms=[...]``) included."""
    for transform in pipeline:
        yield transform
        inner = transform.get("transforms") if hasattr(transform, "get") else None
        if isinstance(inner, list):
            yield from iter_transforms(inner)


def _datasets(loader: ConfigDict) -> Iterator[ConfigDict]:
    """A dataloader's dataset and, for wrappers (RepeatDataset ...), the datasets inside."""
    dataset = loader.dataset
    while True:
        yield dataset
        if "dataset" not in dataset:
            return
        dataset = dataset.dataset


def footage_student_config(
    base: Config,
    pseudo_dir: str | Path,
    store_dir: str | Path,
    epochs: int,
    load_from: str | None = None,
    freeze_detector: bool = False,
    trainable: tuple[str, ...] = ("embed",),
) -> Config:
    """The student's config trained on pseudo boxes + pseudo embeddings of the footage.

    Changes to ``base`` (a TDT one-stage config: ``model.type='TDT'``, a training pipeline with
    ``LoadTeacherEmbeddings``):

    * the training set is the pseudo CocoVID file (``pseudo_dir/annotations/...``, images
      relative to ``pseudo_dir``); every ``LoadTeacherEmbeddings`` reads ``store_dir``; the
      validation / test sets are the footage too (they have only pseudo boxes, so
      ``tools/test.py`` on them scores the student against its own teacher: the run itself
      never validates, ``val_begin`` is past the last epoch);
    * ``epochs`` epochs; every epoch-based scheduler ends there (a cosine's ``T_max`` too);
    * ``load_from``: initial weights (e.g. the pseudo-labelling detector's);
    * ``freeze_detector``: only parameters named with one of ``trainable`` learn
      (:class:`~mmdistillmot.models.mot.tdt.TDT`'s ``trainable``), else the detector is
      fine-tuned on its own boxes.

    Args:
        base: The student's config (not modified).
        pseudo_dir: Step 1's output folder.
        store_dir: Step 2's store folder.
        epochs: Training epochs.
        load_from: Checkpoint to start from, or None for the config's own ``load_from``.
        freeze_detector: Train the embedding branch alone.
        trainable: Parameter-name parts that stay trainable with ``freeze_detector``.

    Returns:
        A new Config.

    Raises:
        KeyError: ``base`` is not a one-stage TDT config, or its training pipeline has no
            ``LoadTeacherEmbeddings`` (the message names the config file).
    """
    cfg = Config(base.to_dict(), filename=base.filename)
    name = base.filename or "the student config"
    if cfg.model.get("type") != "TDT":
        raise KeyError(f"{name}: model.type is {cfg.model.get('type')!r}, not TDT (one-stage)")
    pseudo = os.path.abspath(pseudo_dir) + os.sep
    ann_file = os.path.join(pseudo, ANN_FILE)
    loaders_with_teacher = 0
    for loader_key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(loader_key) is None:
            continue
        for dataset in _datasets(cfg[loader_key]):
            if "ann_file" in dataset or "data_root" in dataset:
                dataset.data_root = pseudo
                dataset.ann_file = ANN_FILE
                key = "img" if loader_key == "train_dataloader" else "img_path"
                dataset.data_prefix = {key: ""}
            for transform in iter_transforms(dataset.get("pipeline", [])):
                if transform.get("type") == "LoadTeacherEmbeddings":
                    transform.store_dir = os.path.abspath(store_dir)
                    transform.ann_file = ann_file
                    loaders_with_teacher += loader_key == "train_dataloader"
    if loaders_with_teacher == 0:
        raise KeyError(f"{name}: the training pipeline has no LoadTeacherEmbeddings transform")
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_begin = epochs + 1
    for scheduler in cfg.get("param_scheduler") or []:
        if scheduler.get("by_epoch", True):
            if "end" in scheduler and scheduler.end > epochs:
                scheduler.end = epochs
            if "T_max" in scheduler:
                scheduler.T_max = scheduler.get("end", epochs) - scheduler.get("begin", 0)
    if load_from is not None:
        cfg.load_from = os.path.abspath(load_from)
    if freeze_detector:
        cfg.model.trainable = list(trainable)
    return cfg
