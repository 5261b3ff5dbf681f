"""ExactResumeHook: a run resumed from an epoch checkpoint draws the random numbers it would have.

mmengine's ``--resume`` restores weights, optimizer, schedulers, counters and the seed, but not
the random streams: the resumed process starts from ``set_random_seed(seed)`` plus whatever model
building consumed, and fresh dataloader workers start from ``seed + worker_id`` again, while the
uninterrupted run continues the streams of the epochs before. Augmentations (``RandomFlip``,
crops, degradations) and any random draw in the model then differ after a resume.

This hook makes every epoch's random streams a function of ``(seed, epoch)`` only: at the start
of each training epoch it reseeds python's ``random``, numpy's global generator and torch (CPU
and CUDA) in the main process, and gives the dataloader workers seeds derived from
``(seed, epoch, rank, worker id)``. An uninterrupted run and one killed after epoch ``k`` and
resumed then see the same numbers in epoch ``k + 1``, whatever happened in between (the
validation loop, model building, a different process). Persistent workers would carry their
streams across epochs, so they are restarted at each epoch start (new worker processes).

An ``IterBasedTrainLoop`` is one long epoch: mmengine resumes it by replaying the dataloader up
to the checkpoint's iteration. The workers' streams then repeat (mmengine seeds them the same
in every process); draws of the main process are not replayed. The hook only reseeds the main
process there and leaves the workers, whose iterator that loop creates before any hook runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.logging import MMLogger
from mmengine.runner import IterBasedTrainLoop

__all__ = ["ExactResumeHook", "epoch_seed", "seed_epoch_worker", "seed_everything"]

# Domain tags keep the main-process and worker seed sequences apart.
_MAIN_STREAM = 0x6D61696E  # 'main'
_WORKER_STREAM = 0x776B7273  # 'wkrs'
_UINT32 = 0xFFFFFFFF


def epoch_seed(seed: int, epoch: int, rank: int = 0, worker_id: int | None = None) -> int:
    """A 32-bit seed for one epoch of the main process (``worker_id`` None) or of one worker.

    numpy's ``SeedSequence`` hashes the keys, so nearby seeds, epochs and workers get unrelated
    streams (``seed + epoch`` would make epoch 1 of seed 0 replay epoch 0 of seed 1).

    Args:
        seed: The run's base seed (``runner.seed``).
        epoch: 0-based epoch index.
        rank: Process rank (use 0 for every rank to give all ranks the same main stream).
        worker_id: Dataloader worker index, or None for the main process.

    Returns:
        An integer in ``[0, 2**32)``, valid for ``random``, numpy and torch.
    """
    if worker_id is None:
        keys = [_MAIN_STREAM, seed & _UINT32, epoch, rank]
    else:
        keys = [_WORKER_STREAM, seed & _UINT32, epoch, rank, worker_id]
    return int(np.random.SeedSequence(keys).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the global generator is what transforms draw from)
    torch.manual_seed(seed)  # also seeds every CUDA device


def seed_epoch_worker(
    worker_id: int,
    seed: int,
    epoch: int,
    rank: int,
    user_init_fn: Callable[[int], Any] | None = None,
) -> None:
    """``worker_init_fn`` of one epoch: the config's own init function, then the epoch seeds.

    Module-level (with :func:`functools.partial`) so that spawned workers can unpickle it.
    """
    if user_init_fn is not None:
        user_init_fn(worker_id)  # e.g. mmengine's, which also sets its own (epoch-blind) seeds
    seed_everything(epoch_seed(seed, epoch, rank, worker_id))


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Reseed the main process and the dataloader workers from ``(seed, epoch)`` every epoch.

    Exact for checkpoints written at the end of an epoch (``CheckpointHook(by_epoch=True)``,
    the configs' default). A checkpoint written inside an epoch (``by_epoch=False``) is resumed
    by mmengine from the start of that epoch, replaying its first batches: this hook says so in
    the log and cannot make it exact.

    Args:
        reseed_workers: Give the dataloader workers per-epoch seeds (and restart persistent
            workers each epoch). False leaves the workers as mmengine seeds them, which is not
            exact on resume when ``num_workers > 0``.
    """

    # Before every other hook's before_train_epoch, so that nothing draws from the old streams.
    priority = "VERY_HIGH"

    def __init__(self, reseed_workers: bool = True) -> None:
        self.reseed_workers = reseed_workers
        self._user_init_fn: Callable[[int], Any] | None = None
        self._wrapped = False

    def before_train(self, runner: Any) -> None:
        """Keep the dataloader's own ``worker_init_fn``; warn about a mid-epoch resume."""
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        loader = runner.train_dataloader
        if not self._wrapped:
            self._user_init_fn = loader.worker_init_fn
            self._wrapped = True
        per_epoch = len(loader)
        if runner.iter != runner.epoch * per_epoch:
            MMLogger.get_current_instance().warning(
                f"ExactResumeHook: resumed inside epoch {runner.epoch + 1} (iteration "
                f"{runner.iter}, {per_epoch} per epoch); mmengine restarts that epoch from its "
                "first batch, so this run does not continue the interrupted one exactly. "
                "Resume from an end-of-epoch checkpoint for an exact continuation."
            )

    def before_train_epoch(self, runner: Any) -> None:
        """Reseed the main process, and set the workers' seeds, for ``runner.epoch``."""
        seed, epoch = int(runner.seed), int(runner.epoch)
        rank = get_rank()
        # mmengine gives every rank the same main seed unless diff_rank_seed is set; keep that.
        diff_rank = bool(getattr(runner, "_randomness_cfg", {}).get("diff_rank_seed", False))
        seed_everything(epoch_seed(seed, epoch, rank if diff_rank else 0))

        if isinstance(runner.train_loop, IterBasedTrainLoop):
            return
        loader = runner.train_dataloader
        if not self.reseed_workers or loader.num_workers == 0:
            return
        loader.worker_init_fn = partial(
            seed_epoch_worker,
            seed=seed,
            epoch=epoch,
            rank=rank,
            user_init_fn=self._user_init_fn,
        )
        # Persistent workers were seeded once, for an earlier epoch: restart them so that the
        # next iteration forks new ones with this epoch's seeds. (torch keeps the live worker
        # pool in the private ``_iterator``; shutting it down is what its __del__ does.)
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            iterator._shutdown_workers()
            loader._iterator = None
