"""DistillHook: the runner-side half of online distillation.

It keeps the teacher frozen and in eval mode whatever the loops do, writes student-only
checkpoints (loadable by the plain student config), schedules ``alpha`` and the end of
distillation over training, and logs how close the student's features are to the teacher's.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, Literal

from mmdet.registry import HOOKS
from mmengine.hooks import EMAHook, Hook, LoggerHook
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper

from mmdistillmot.models.distillers.feature_distiller import FeatureDistiller
from mmdistillmot.models.distillers.student_checkpoint import (
    DISTILL_MODULE_PREFIXES,
    DISTILL_STATE_KEY,
    merge_distill_state,
    to_student_checkpoint,
)

__all__ = ["DistillHook", "EMA_DISTILL_STATE_KEY"]

#: Top-level checkpoint entry holding the distillation modules of mmengine's EMA copy
#: (``module.connectors.*`` ...), the counterpart of ``ema_state_dict`` for the student.
EMA_DISTILL_STATE_KEY = "ema_distill_state_dict"
_EMA_PREFIX = "module."


@HOOKS.register_module()
class DistillHook(Hook):
    """Teacher guard, student-only checkpoints, alpha schedule and similarity logging.

    Schedule units are epochs (0-based, as ``runner.epoch``: the first epoch is 0) when
    ``by_epoch`` is true, else iterations (``runner.iter``).

    Args:
        alpha_schedule: ``[(point, alpha), ...]`` in increasing points. ``'step'``: from each
            point on, alpha is its value; ``'linear'``: alpha is interpolated between points.
            Before the first point the distiller's configured ``alpha`` holds; after the last,
            the last value. ``None`` keeps the configured alpha throughout.
        interpolation: ``'step'`` or ``'linear'``.
        stop_at: From this point on the teacher is no longer run and the loss is the student's
            alone (weight 1). ``None``: distil until the end. Under DDP, stopping leaves the
            connectors without gradients: set ``model_wrapper_cfg=dict(
            type='MMDistributedDataParallel', find_unused_parameters=True)``.
        by_epoch: Units of ``alpha_schedule`` and ``stop_at``.
        student_only_checkpoints: Strip the teacher from every saved checkpoint and store the
            student under its own key names (the connectors go to a separate entry used only
            to resume). Keep True; False exists to inspect full state dicts.
        log_similarity: Log the per-sample cosine similarity of each compared pair, the
            unweighted distillation losses and alpha, at the iterations the ``LoggerHook``
            logs (its ``interval``, and an epoch's last iteration): the values of that
            iteration. Reading them is a device-to-host sync, so it is not done every step.
    """

    # 55: after EMAHook (NORMAL, 50) in before_save_checkpoint, so that EMA swaps its averaged
    # weights into the full state dict first and this hook strips it down to the student; and
    # before LoggerHook (BELOW_NORMAL, 60) in after_train_iter, so that the scalars written at a
    # logging iteration are in that iteration's log line.
    priority = 55

    def __init__(
        self,
        alpha_schedule: Sequence[Sequence[float]] | None = None,
        interpolation: Literal["step", "linear"] = "step",
        stop_at: int | None = None,
        by_epoch: bool = True,
        student_only_checkpoints: bool = True,
        log_similarity: bool = True,
    ) -> None:
        if interpolation not in ("step", "linear"):
            raise ValueError(
                f"DistillHook: interpolation must be 'step' or 'linear', got {interpolation!r}."
            )
        points: list[tuple[int, float]] = []
        for item in alpha_schedule or ():
            if len(item) != 2:
                raise ValueError(
                    f"DistillHook: alpha_schedule items are (point, alpha), got {item!r}."
                )
            point, alpha = int(item[0]), float(item[1])
            if not 0.0 <= alpha <= 1.0:
                raise ValueError(f"DistillHook: alpha {alpha} at {point} is outside [0, 1].")
            if points and point <= points[-1][0]:
                raise ValueError("DistillHook: alpha_schedule points must increase strictly.")
            points.append((point, alpha))
        if stop_at is not None and stop_at < 0:
            raise ValueError(f"DistillHook: stop_at must be >= 0, got {stop_at}.")
        self.points = points
        self.interpolation = interpolation
        self.stop_at = stop_at
        self.by_epoch = by_epoch
        self.student_only_checkpoints = student_only_checkpoints
        self.log_similarity = log_similarity
        self._warned_teacher_mode = False

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def distiller(runner: Any) -> FeatureDistiller:
        """The runner's model, unwrapped from DDP, checked to be a :class:`FeatureDistiller`."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not isinstance(model, FeatureDistiller):
            raise TypeError(
                f"DistillHook needs model=dict(type='FeatureDistiller', ...), got "
                f"{type(model).__name__}; remove DistillHook from custom_hooks or wrap the "
                "model in a FeatureDistiller."
            )
        return model

    def alpha_at(self, point: int, base_alpha: float) -> float:
        """Alpha at an epoch (or iteration) under the schedule.

        Args:
            point: Epoch index (``by_epoch``) or iteration index.
            base_alpha: The distiller's configured alpha (used before the first point).

        Returns:
            The scheduled alpha.
        """
        if not self.points or point < self.points[0][0]:
            return base_alpha
        starts = [p for p, _ in self.points]
        i = bisect.bisect_right(starts, point) - 1
        if self.interpolation == "step" or i == len(self.points) - 1:
            return self.points[i][1]
        (p0, a0), (p1, a1) = self.points[i], self.points[i + 1]
        return a0 + (a1 - a0) * (point - p0) / (p1 - p0)

    def enabled_at(self, point: int) -> bool:
        """Whether distillation runs at an epoch (or iteration)."""
        return self.stop_at is None or point < self.stop_at

    def apply_schedule(self, model: FeatureDistiller, point: int) -> None:
        """Set the distiller's alpha and on/off state for ``point``."""
        model.alpha = self.alpha_at(point, model.base_alpha)
        model.distill_enabled = self.enabled_at(point)

    def _guard_teacher(self, model: FeatureDistiller) -> None:
        """Put the teacher back to frozen eval if anything changed it (and say so once)."""
        changed = any(m.training for m in model.teacher.modules()) or any(
            p.requires_grad for p in model.teacher.parameters()
        )
        if changed:
            model._freeze_teacher()
            if not self._warned_teacher_mode:
                MMLogger.get_current_instance().warning(
                    "DistillHook: the teacher was switched to train mode or unfrozen by "
                    "something outside the distiller; it is frozen and in eval mode again."
                )
                self._warned_teacher_mode = True

    # ------------------------------------------------------------------ hook points
    def before_train(self, runner: Any) -> None:
        """Check the model, freeze the teacher, warn about DDP with an early stop."""
        model = self.distiller(runner)
        self._guard_teacher(model)
        if (
            self.stop_at is not None
            and is_model_wrapper(runner.model)
            and not getattr(runner.model, "find_unused_parameters", False)
        ):
            MMLogger.get_current_instance().warning(
                "DistillHook: distillation stops at "
                f"{'epoch' if self.by_epoch else 'iteration'} {self.stop_at}; after that the "
                "connectors get no gradient and DDP needs find_unused_parameters=True "
                "(model_wrapper_cfg)."
            )

    def before_train_epoch(self, runner: Any) -> None:
        """Apply the epoch schedule; the loop has just called ``model.train()``."""
        model = self.distiller(runner)
        self._guard_teacher(model)
        if self.by_epoch:
            self.apply_schedule(model, runner.epoch)

    def before_train_iter(
        self, runner: Any, batch_idx: int, data_batch: dict | tuple | list | None = None
    ) -> None:
        """Apply the iteration schedule and check the teacher is still in eval mode."""
        model = self.distiller(runner)
        self._guard_teacher(model)
        if not self.by_epoch:
            self.apply_schedule(model, runner.iter)

    def after_train_iter(
        self,
        runner: Any,
        batch_idx: int,
        data_batch: dict | tuple | list | None = None,
        outputs: dict | None = None,
    ) -> None:
        """Log alpha, the teacher-student cosine similarity and the unweighted losses."""
        if not self.log_similarity or not self.is_logging_iter(runner, batch_idx):
            return
        model = self.distiller(runner)
        hub = runner.message_hub
        hub.update_scalar("train/distill_alpha", model.alpha if model.distill_enabled else 0.0)
        for name, value in model.last_similarity.items():
            hub.update_scalar(f"train/distill_cos_sim_{name}", value)
        for name, value in model.last_distill_values.items():
            hub.update_scalar(f"train/distill_unweighted_{name}", value)

    def is_logging_iter(self, runner: Any, batch_idx: int) -> bool:
        """Whether mmengine's ``LoggerHook`` writes a training log line after this iteration.

        Its rule: every ``interval`` inner iterations, and an epoch's last one. Without a
        ``LoggerHook`` every iteration counts.
        """
        loggers = [hook for hook in getattr(runner, "hooks", ()) if isinstance(hook, LoggerHook)]
        if not loggers:
            return True
        interval = int(loggers[0].interval)
        if self.every_n_inner_iters(batch_idx, interval):
            return True
        try:
            return self.end_of_epoch(runner.train_dataloader, batch_idx)
        except TypeError:  # an infinite loader has no length: no epoch end
            return False

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Keep the student only, under its own key names.

        With mmengine's ``EMAHook`` (which ran first and swapped the averaged weights into
        ``state_dict``, the live ones into ``ema_state_dict``), the EMA entry's distillation
        modules go to :data:`EMA_DISTILL_STATE_KEY`: they are the live connectors a resumed
        run must train on, and ``to_student_checkpoint`` would drop them.
        """
        if not self.student_only_checkpoints:
            return
        ema = checkpoint.get("ema_state_dict")
        ema_distill: dict[str, Any] = {}
        if isinstance(ema, dict):
            ema_distill = {
                key: value
                for key, value in ema.items()
                if key.startswith(_EMA_PREFIX)
                and key[len(_EMA_PREFIX) :].startswith(DISTILL_MODULE_PREFIXES)
            }
        to_student_checkpoint(checkpoint)
        if ema_distill and DISTILL_STATE_KEY in checkpoint:
            checkpoint[EMA_DISTILL_STATE_KEY] = ema_distill

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        """Bring a student-only checkpoint's connectors back for the distiller to load.

        On resume with EMA, the swap ``EMAHook.after_load_checkpoint`` did for the student
        (it runs first) is done here for the distillation modules: the live ones go to the
        model, the averaged ones into the EMA copy.
        """
        ema_distill = checkpoint.pop(EMA_DISTILL_STATE_KEY, None)
        ema_hook = None
        if ema_distill and getattr(runner, "_resume", False):
            ema_hook = next((h for h in runner.hooks if isinstance(h, EMAHook)), None)
        if ema_distill and ema_hook is not None:
            averaged = checkpoint.get(DISTILL_STATE_KEY) or {}
            ema_params = ema_hook.ema_model.module.state_dict()
            for key, value in averaged.items():
                if key not in ema_params:
                    raise KeyError(
                        f"checkpoint entry '{DISTILL_STATE_KEY}' has '{key}', which the EMA "
                        "copy of the distiller does not have; is the config the one trained?"
                    )
                ema_params[key].copy_(value)
            checkpoint[DISTILL_STATE_KEY] = {
                key[len(_EMA_PREFIX) :]: value for key, value in ema_distill.items()
            }
        merge_distill_state(checkpoint)
