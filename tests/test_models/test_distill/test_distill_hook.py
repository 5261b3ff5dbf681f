"""DistillHook: alpha schedule, stop point, teacher guard, student-only checkpoints."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from distill_testing import make_batch, tiny_distiller_cfg, tiny_student_cfg
from mmdet.registry import HOOKS, MODELS

import mmdistillmot  # noqa: F401
from mmdistillmot.models.distillers import (
    DISTILL_STATE_KEY,
    merge_distill_state,
    to_student_checkpoint,
)


def _runner(model, epoch: int = 0, it: int = 0) -> SimpleNamespace:
    from mmengine.logging import MessageHub

    return SimpleNamespace(
        model=model, epoch=epoch, iter=it, message_hub=MessageHub.get_instance("distill_hook_test")
    )


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MODELS.build(tiny_distiller_cfg(alpha=0.5))


def test_step_schedule_and_stop_epoch(model) -> None:
    hook = HOOKS.build(dict(type="DistillHook", alpha_schedule=[(2, 0.25), (4, 0.75)], stop_at=6))
    seen = []
    for epoch in range(8):
        hook.before_train_epoch(_runner(model, epoch=epoch))
        seen.append((model.alpha, model.distill_enabled))
    assert seen == [
        (0.5, True),
        (0.5, True),
        (0.25, True),
        (0.25, True),
        (0.75, True),
        (0.75, True),
        (0.75, False),
        (0.75, False),
    ]
    model.alpha, model.distill_enabled = model.base_alpha, True


def test_linear_schedule_by_iteration(model) -> None:
    hook = HOOKS.build(
        dict(
            type="DistillHook",
            alpha_schedule=[(0, 0.0), (10, 1.0)],
            interpolation="linear",
            by_epoch=False,
        )
    )
    for it, expected in [(0, 0.0), (3, 0.3), (10, 1.0), (50, 1.0)]:
        hook.before_train_iter(_runner(model, it=it), batch_idx=it)
        assert model.alpha == pytest.approx(expected)
    hook.before_train_epoch(_runner(model, epoch=5))  # epoch points ignored when by iteration
    assert model.alpha == pytest.approx(1.0)
    model.alpha = model.base_alpha


def test_bad_schedules_rejected() -> None:
    with pytest.raises(ValueError, match="must increase strictly"):
        HOOKS.build(dict(type="DistillHook", alpha_schedule=[(3, 0.2), (3, 0.4)]))
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        HOOKS.build(dict(type="DistillHook", alpha_schedule=[(0, 2.0)]))


def test_teacher_guard_restores_eval_and_frozen(model) -> None:
    hook = HOOKS.build(dict(type="DistillHook"))
    model.teacher.model.blocks[0].train()
    next(model.teacher.parameters()).requires_grad_(True)
    hook.before_train_iter(_runner(model), batch_idx=0)
    assert not any(m.training for m in model.teacher.modules())
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_hook_refuses_a_plain_model() -> None:
    hook = HOOKS.build(dict(type="DistillHook"))
    with pytest.raises(TypeError, match="needs model=dict\\(type='FeatureDistiller'"):
        hook.before_train(_runner(MODELS.build(tiny_student_cfg())))


def test_similarity_logged(model) -> None:
    hook = HOOKS.build(dict(type="DistillHook"))
    model.train()
    model(**model.data_preprocessor(make_batch(), True), mode="loss")
    runner = _runner(model)
    hook.after_train_iter(runner, batch_idx=0)
    scalars = runner.message_hub.log_scalars
    assert scalars["train/distill_alpha"].current() == pytest.approx(0.5)
    assert -1 <= scalars["train/distill_cos_sim_dino"].current() <= 1
    assert scalars["train/distill_unweighted_dino"].current() == pytest.approx(
        1 - scalars["train/distill_cos_sim_dino"].current(), abs=1e-5
    )


def test_scalars_are_logged_at_the_logger_iterations_only(model) -> None:
    """Reading the similarities syncs with the device: only where LoggerHook writes a line.

    LoggerHook(interval=5) over an epoch of 12 batches logs after batch indices 4, 9 and 11
    (the epoch's last); the hook writes the scalars there and nowhere else.
    """
    from mmengine.hooks import LoggerHook
    from mmengine.logging import MessageHub

    hook = HOOKS.build(dict(type="DistillHook"))
    model.train()
    model(**model.data_preprocessor(make_batch(), True), mode="loss")
    written = []
    for batch_idx in range(12):
        hub = MessageHub.get_instance(f"distill_hook_interval_{batch_idx}")
        runner = SimpleNamespace(
            model=model, epoch=0, iter=batch_idx, message_hub=hub,
            hooks=[LoggerHook(interval=5)], train_dataloader=list(range(12)),
        )  # fmt: skip
        hook.after_train_iter(runner, batch_idx=batch_idx)
        if "train/distill_cos_sim_dino" in hub.log_scalars:
            written.append(batch_idx)
    assert written == [4, 9, 11]
    # LoggerHook runs after this hook, so a logging iteration's line holds its own values
    assert hook.priority == 55


def test_student_only_checkpoint_loads_into_plain_student_and_back(model) -> None:
    hook = HOOKS.build(dict(type="DistillHook"))
    checkpoint = {"meta": {"epoch": 1}, "state_dict": copy.deepcopy(model.state_dict())}
    hook.before_save_checkpoint(_runner(model), checkpoint)
    state = checkpoint["state_dict"]
    assert not any(k.startswith(("teacher.", "student.", "connectors.")) for k in state)
    # the distiller's state never holds the teacher (rebuilt from its config and weights)
    assert checkpoint["meta"]["distill"]["teacher_tensors_dropped"] == 0
    assert set(checkpoint[DISTILL_STATE_KEY]) == {
        "connectors.s2t.conv.weight",
        "connectors.s2t.conv.bias",
    }
    plain = MODELS.build(tiny_student_cfg())
    plain.load_state_dict(state, strict=True)  # the baseline config takes it as is
    for key, value in model.student.state_dict().items():
        assert torch.equal(plain.state_dict()[key], value)

    # back into a fresh distiller (resume): student and connectors restored, teacher untouched
    other = MODELS.build(tiny_distiller_cfg())
    teacher_before = copy.deepcopy(other.teacher.state_dict())
    hook.after_load_checkpoint(_runner(other), checkpoint)
    other.load_state_dict(checkpoint["state_dict"], strict=True)
    for key, value in model.student.state_dict().items():
        assert torch.equal(other.student.state_dict()[key], value)
    for key, value in model.connectors.state_dict().items():
        assert torch.equal(other.connectors.state_dict()[key], value)
    for key, value in teacher_before.items():
        assert torch.equal(other.teacher.state_dict()[key], value)


def test_plain_baseline_checkpoint_starts_a_distillation(model) -> None:
    baseline = MODELS.build(tiny_student_cfg())
    other = MODELS.build(tiny_distiller_cfg())
    connectors_before = copy.deepcopy(other.connectors.state_dict())
    checkpoint = merge_distill_state({"state_dict": baseline.state_dict()})
    other.load_state_dict(checkpoint["state_dict"], strict=True)
    for key, value in baseline.state_dict().items():
        assert torch.equal(other.student.state_dict()[key], value)
    for key, value in connectors_before.items():
        assert torch.equal(other.connectors.state_dict()[key], value)


def test_conversion_is_idempotent_and_rejects_foreign_keys(model) -> None:
    checkpoint = {"state_dict": dict(model.state_dict())}
    once = dict(to_student_checkpoint(checkpoint)["state_dict"])
    assert to_student_checkpoint(checkpoint)["state_dict"] == once
    with pytest.raises(KeyError, match="belongs to neither"):
        to_student_checkpoint(
            {"state_dict": {"student.a": torch.zeros(1), "head.b": torch.zeros(1)}}
        )
