"""Test helper imported by the training processes of ``test_train_resume.py``.

:class:`KillSwitchHook` ends its own process with SIGKILL (no cleanup, no atexit, as a crash or
``kill -9`` would) after the training iteration named by ``MMDISTILLMOT_TEST_KILL_AT_ITER``, so
the resume tests interrupt a real ``tools/train.py`` process at a known point, without racing
it. Without that variable the hook does nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from mmdet.registry import HOOKS
from mmengine.hooks import Hook

KILL_ENV = "MMDISTILLMOT_TEST_KILL_AT_ITER"


@HOOKS.register_module()
class KillSwitchHook(Hook):
    """SIGKILL the process once ``runner.iter + 1`` reaches ``$MMDISTILLMOT_TEST_KILL_AT_ITER``."""

    priority = "LOWEST"  # after every other hook of that iteration

    def after_train_iter(
        self,
        runner: Any,
        batch_idx: int,
        data_batch: Any = None,
        outputs: Any = None,
    ) -> None:
        kill_at = os.environ.get(KILL_ENV)
        if kill_at is not None and runner.iter + 1 == int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)
