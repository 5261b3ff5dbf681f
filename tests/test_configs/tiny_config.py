"""Shrink a full training / tracking config to tiny inputs for a one-iteration smoke run.

Config tests must build every config in ``configs/``, train one iteration and test one frame on
CPU in seconds, while keeping the architecture exactly as configured. :func:`shrink_config`
changes only what depends on data and hardware:

* data: every leaf dataset (through ``ConcatDataset.datasets`` and ``*.dataset`` wrappers) of
  the train / val / test dataloaders gets the caller's fields (``data_root``, ``ann_file``,
  ``data_prefix``...); the training sets are cut to a few images (``indices``);
* image sizes: ``scale`` / ``img_scale`` / ``scales`` / ``crop_size`` of every transform (nested
  ``transforms`` included) become the tiny size; per-type transform overrides (e.g. the store of
  ``LoadTeacherEmbeddings``) are applied, as fixed fields or computed from the transform;
* loaders: batch size 1-2, ``num_workers=0``, no persistent workers;
* schedule: one iteration (``IterBasedTrainLoop``) or one epoch of those few images
  (``EpochBasedTrainLoop``), no validation loop (unless asked), no checkpoint files;
* weights: ``Pretrained`` initialisations and ``load_from`` are dropped (no files in tests), and
  every registered teacher runs on random weights (``allow_random_init=True``, tests only);
* outputs: evaluator ``outfile_prefix`` and ``work_dir`` go to the caller's temporary folder.

Other config tests (FairMOT, MOTRv2, ...) can reuse it: pass their own dataset fields and
transform overrides.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mmengine.config import Config, ConfigDict

__all__ = [
    "TransformOverride",
    "iter_leaf_datasets",
    "iter_transforms",
    "shrink_config",
]

#: A transform override: fields to set, or a function of the transform config returning them.
TransformOverride = Mapping[str, Any] | Callable[[ConfigDict], Mapping[str, Any]]

_WRAPPER_LIST_KEYS = ("datasets",)
_WRAPPER_ONE_KEYS = ("dataset",)
_DATALOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
_EVALUATORS = ("val_evaluator", "test_evaluator")


def iter_leaf_datasets(dataset: Any) -> Iterator[ConfigDict]:
    """Yield the dataset configs that read data (not wrappers) inside a dataset config.

    Args:
        dataset: A dataset config, possibly a ``ConcatDataset`` / ``RepeatDataset`` /
            ``ClassBalancedDataset`` wrapper (``datasets`` list or ``dataset`` entry).

    Yields:
        Every leaf dataset config (the same objects, so they can be edited in place).
    """
    if not isinstance(dataset, Mapping):
        return
    children = []
    for key in _WRAPPER_LIST_KEYS:
        if isinstance(dataset.get(key), list | tuple):
            children.extend(dataset[key])
    for key in _WRAPPER_ONE_KEYS:
        if isinstance(dataset.get(key), Mapping):
            children.append(dataset[key])
    if not children:
        yield dataset  # type: ignore[misc]
        return
    for child in children:
        yield from iter_leaf_datasets(child)


def iter_transforms(pipeline: Any) -> Iterator[ConfigDict]:
    """Yield every transform config of a pipeline, nested ``transforms`` lists included.

    Args:
        pipeline: A list of transform configs.

    Yields:
        Each transform dict (in place), parents before their wrapped transforms.
    """
    if not isinstance(pipeline, list | tuple):
        return
    for transform in pipeline:
        if not isinstance(transform, Mapping):
            continue
        yield transform  # type: ignore[misc]
        yield from iter_transforms(transform.get("transforms"))


def _shrink_transform(transform: ConfigDict, img_scale: tuple[int, int]) -> None:
    """Replace the image sizes of one transform by the tiny ``img_scale`` (w, h)."""
    width, height = img_scale
    for key in ("scale", "img_scale"):
        value = transform.get(key)
        if isinstance(value, list | tuple) and len(value) == 2:
            transform[key] = (width, height)
    if isinstance(transform.get("scales"), list | tuple):
        transform["scales"] = [(width, height)]
    crop = transform.get("crop_size")
    if (
        isinstance(crop, list | tuple)
        and len(crop) == 2
        and transform.get("crop_type", "absolute") in ("absolute", "absolute_range")
    ):
        transform["crop_size"] = (height, width)  # (h, w) for mmdet's RandomCrop


def _apply_overrides(
    transform: ConfigDict, overrides: Mapping[str, TransformOverride] | None
) -> None:
    if not overrides:
        return
    override = overrides.get(str(transform.get("type")))
    if override is None:
        return
    fields = override(transform) if callable(override) else override
    transform.update(copy.deepcopy(dict(fields)))


def _random_init_teachers(node: Any) -> None:
    """Let every registered teacher in a model config run on random weights (tests only)."""
    from mmdet.registry import MODELS

    from mmdistillmot.models.teachers.base_teacher import BaseTeacher

    if isinstance(node, list | tuple):
        for item in node:
            _random_init_teachers(item)
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if isinstance(cls, type) and issubclass(cls, BaseTeacher):
        node["weights"] = None  # type: ignore[index]
        node["allow_random_init"] = True  # type: ignore[index]
        node["precision"] = "fp32"  # type: ignore[index]
    for value in node.values():
        _random_init_teachers(value)


def _drop_pretrained(node: Any) -> None:
    """Remove ``init_cfg`` entries that load a file (absent in tests)."""
    if isinstance(node, list | tuple):
        for item in node:
            _drop_pretrained(item)
        return
    if not isinstance(node, Mapping):
        return
    init_cfg = node.get("init_cfg")
    if isinstance(init_cfg, Mapping) and init_cfg.get("type") == "Pretrained":
        node["init_cfg"] = None  # type: ignore[index]
    for value in node.values():
        _drop_pretrained(value)


def shrink_config(
    cfg: Config,
    work_dir: str,
    train_dataset: Mapping[str, Any] | None = None,
    test_dataset: Mapping[str, Any] | None = None,
    img_scale: tuple[int, int] = (160, 96),
    batch_size: int = 2,
    num_train_images: int | None = None,
    transform_overrides: Mapping[str, TransformOverride] | None = None,
    random_init_teachers: bool = True,
    validate: bool = False,
) -> Config:
    """Return a copy of ``cfg`` that trains one iteration and tests on tiny inputs.

    Args:
        cfg: A loaded config (not modified).
        work_dir: Folder for logs and evaluator outputs.
        train_dataset: Fields set on every leaf training dataset, e.g.
            ``dict(data_root=..., ann_file=..., data_prefix=dict(img=''))``.
        test_dataset: Fields set on every leaf validation / test dataset.
        img_scale: Tiny ``(width, height)`` replacing the configured image sizes.
        batch_size: Training batch size (validation and test use 1).
        num_train_images: Images kept per training dataset (default: ``batch_size``).
        transform_overrides: ``transform type -> fields`` (or a function of the transform
            config returning the fields), applied to every transform of that type.
        random_init_teachers: Run teachers on random weights.
        validate: Keep the validation loop (mmengine validates after the last training
            iteration); by default it is removed and only ``runner.test()`` tracks.

    Returns:
        The shrunk config.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.load_from = None
    cfg.resume = False
    cfg.launcher = "none"
    keep = batch_size if num_train_images is None else num_train_images

    train_cfg = cfg.get("train_cfg") or {}
    loop = str(train_cfg.get("type", ""))
    if "IterBased" in loop:
        train_cfg.update(max_iters=1, val_interval=10**9)
    elif "EpochBased" in loop or "max_epochs" in train_cfg:
        train_cfg.update(max_epochs=1, val_interval=10**9)
    cfg.default_hooks = cfg.get("default_hooks") or ConfigDict()
    cfg.default_hooks.checkpoint = dict(type="CheckpointHook", interval=-1, save_last=False)
    if "logger" in cfg.default_hooks:
        cfg.default_hooks.logger.interval = 1
    if "visualization" in cfg.default_hooks:
        cfg.default_hooks.visualization.draw = False
    if cfg.get("log_processor"):
        cfg.log_processor.window_size = 1
    if cfg.get("auto_scale_lr"):
        cfg.auto_scale_lr.enable = False

    if not validate:
        cfg.val_dataloader = None
        cfg.val_cfg = None
        cfg.val_evaluator = None

    for name in _DATALOADERS:
        loader = cfg.get(name)
        if not isinstance(loader, Mapping):
            continue
        is_train = name == "train_dataloader"
        loader.batch_size = batch_size if is_train else 1
        loader.num_workers = 0
        loader.persistent_workers = False
        fields = train_dataset if is_train else test_dataset
        for dataset in iter_leaf_datasets(loader.get("dataset")):
            if fields:
                dataset.update(copy.deepcopy(dict(fields)))
            if is_train:
                dataset["indices"] = keep
            for transform in iter_transforms(dataset.get("pipeline")):
                _shrink_transform(transform, img_scale)
                _apply_overrides(transform, transform_overrides)

    for name in _EVALUATORS:
        evaluators = cfg.get(name)
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            if isinstance(evaluator, Mapping) and "outfile_prefix" in evaluator:
                evaluator["outfile_prefix"] = os.path.join(work_dir, f"{name}_results")

    if "model" in cfg:
        _drop_pretrained(cfg.model)
        if random_init_teachers:
            _random_init_teachers(cfg.model)
    return cfg
