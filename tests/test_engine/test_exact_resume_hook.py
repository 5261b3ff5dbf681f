"""ExactResumeHook: an epoch's random draws depend on (seed, epoch) only, in workers too.

The end-to-end proof (a real ``tools/train.py`` killed and resumed) is
``tests/test_tools/test_train_resume.py``; these are the fast checks of the mechanism.
"""

# The legacy global numpy generator is on purpose: it is what mmcv's transforms draw from.
# ruff: noqa: NPY002
from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader, Dataset

from mmdistillmot.engine.hooks.exact_resume_hook import (
    ExactResumeHook,
    epoch_seed,
    seed_everything,
)


class _RandomDraws(Dataset):
    """Each item is what an augmentation would draw: python, numpy and torch numbers."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(()))


def _runner(loader: DataLoader, epoch: int, seed: int = 3, it: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        seed=seed,
        epoch=epoch,
        iter=it,
        train_dataloader=loader,
        train_loop=SimpleNamespace(),  # an epoch-based loop (any loop but IterBasedTrainLoop)
        _randomness_cfg=dict(seed=seed),
    )


def _epoch_draws(hook: ExactResumeHook, loader: DataLoader, epoch: int) -> list[tuple]:
    """One epoch as the train loop runs it: the hook, then main-process draws, then the data."""
    hook.before_train_epoch(_runner(loader, epoch))
    main = (random.random(), float(np.random.rand()), float(torch.rand(())))
    data = [tuple(torch.stack(batch).flatten().tolist()) for batch in loader]
    return [main, *data]


def test_epoch_seed_separates_streams() -> None:
    seeds = {
        epoch_seed(0, 0),
        epoch_seed(0, 1),
        epoch_seed(1, 0),
        epoch_seed(0, 0, rank=1),
        epoch_seed(0, 0, worker_id=0),
        epoch_seed(0, 0, worker_id=1),
        epoch_seed(0, 1, worker_id=0),
    }
    assert len(seeds) == 7  # no two streams share a seed, not even seed+1 / epoch+1
    assert epoch_seed(0, 2, worker_id=1) == epoch_seed(0, 2, worker_id=1)
    assert all(0 <= s < 2**32 for s in seeds)


def test_seed_everything_repeats_all_three_generators() -> None:
    seed_everything(11)
    first = (random.random(), np.random.rand(), torch.rand(()).item())
    seed_everything(11)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == first


@pytest.mark.parametrize("persistent", [True, False])
def test_epoch_draws_do_not_depend_on_earlier_epochs(persistent: bool) -> None:
    """Epoch 2 of a run that did epochs 0-1 draws what a fresh process starting at 2 draws."""

    def make_loader() -> DataLoader:
        # the config's own init function is kept (here: one that leaves a mark in the worker)
        return DataLoader(
            _RandomDraws(),
            batch_size=2,
            num_workers=2,
            persistent_workers=persistent,
            worker_init_fn=lambda worker_id: torch.set_num_threads(1),
            multiprocessing_context="fork",
        )

    uninterrupted, hook = make_loader(), ExactResumeHook()
    hook.before_train(_runner(uninterrupted, 0))
    history = [_epoch_draws(hook, uninterrupted, epoch) for epoch in range(3)]

    resumed, fresh_hook = make_loader(), ExactResumeHook()
    random.random()  # the resumed process consumed other numbers before (model building ...)
    torch.rand(5)
    fresh_hook.before_train(_runner(resumed, 2, it=2 * len(resumed)))
    assert _epoch_draws(fresh_hook, resumed, 2) == history[2]
    assert history[1] != history[2]  # and the epochs differ from each other
    assert len(set(history[2][1:])) == len(history[2]) - 1  # so do the workers' batches


def test_without_worker_reseeding_persistent_workers_carry_their_streams() -> None:
    """The failure the hook exists for: mmengine-style seeding, resumed at epoch 1."""

    def make_loader() -> DataLoader:
        return DataLoader(
            _RandomDraws(),
            batch_size=2,
            num_workers=2,
            persistent_workers=True,
            worker_init_fn=lambda worker_id: seed_everything(100 + worker_id),
            multiprocessing_context="fork",
        )

    hook = ExactResumeHook(reseed_workers=False)
    uninterrupted = make_loader()
    hook.before_train(_runner(uninterrupted, 0))
    history = [_epoch_draws(hook, uninterrupted, epoch) for epoch in range(2)]
    resumed = make_loader()
    hook.before_train(_runner(resumed, 1, it=len(resumed)))
    assert _epoch_draws(hook, resumed, 1)[1:] != history[1][1:]


def test_resume_inside_an_epoch_is_reported() -> None:
    loader = DataLoader(_RandomDraws(), batch_size=2)
    logger = MMLogger.get_current_instance()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        ExactResumeHook().before_train(_runner(loader, epoch=1, it=3 + 1))  # 3 per epoch
        ExactResumeHook().before_train(_runner(loader, epoch=1, it=3))
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "resumed inside epoch 2 (iteration 4" in warnings[0]
