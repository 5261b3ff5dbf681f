"""FeatureDistiller: loss weighting, gradients, frozen teacher, raw frames, predict path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from distill_testing import make_batch, tiny_distiller_cfg, tiny_student_cfg, tiny_teacher_cfg
from mmdet.registry import MODELS
from mmengine.model import BaseModel
from torch import nn

import mmdistillmot  # noqa: F401
from mmdistillmot.models.distillers import FeatureDistiller


class ChannelMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1, keepdim=True)


@MODELS.register_module(force=True)
class FixedLossStudent(BaseModel):
    """A student whose losses are fixed numbers (plus a zero term that keeps the graph)."""

    def __init__(self, data_preprocessor: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.neck = ChannelMean()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, inputs: torch.Tensor, data_samples: Any = None, mode: str = "tensor") -> Any:
        feat = self.neck(inputs) * self.scale
        if mode == "loss":
            zero = 0.0 * feat.sum()
            return {
                "loss_a": torch.tensor(2.0) + zero,
                "loss_b": [torch.tensor(1.0) + zero, torch.tensor(3.0)],
                "acc": torch.tensor(0.9),
            }
        return feat


@MODELS.register_module(force=True)
class SpyTeacher(nn.Module):
    """Returns its input's channel mean + 1 and remembers what it was given."""

    def __init__(self, channel_order: str = "rgb") -> None:
        super().__init__()
        self.channel_order = channel_order
        self.bn = nn.BatchNorm2d(3)  # to see train/eval mode
        self.calls: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls.append(images.clone())
        return {"map": images.mean(1, keepdim=True) + 1.0}


def _fixed_distiller(
    alpha: float, loss_type: str = "MSEDistillLoss", **kw: Any
) -> FeatureDistiller:
    cfg = dict(
        type="FeatureDistiller",
        student=dict(
            type="FixedLossStudent",
            data_preprocessor=dict(type="mmdet.DetDataPreprocessor", mean=[0, 0, 0], std=[1, 1, 1]),
        ),
        teacher=dict(type="SpyTeacher", **kw),
        student_taps=dict(mean="neck"),
        distill_losses=dict(feat=dict(loss=dict(type=loss_type), student="mean", teacher="map")),
        alpha=alpha,
    )
    return MODELS.build(cfg)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("loss_type", ["MSEDistillLoss", "L1DistillLoss"])
def test_total_is_exactly_the_alpha_formula(alpha: float, loss_type: str) -> None:
    model = _fixed_distiller(alpha, loss_type)
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode="loss")
    total, log_vars = model.parse_losses(losses)
    # student loss 2 + (1 + 3) = 6; teacher = student tap + 1 everywhere -> MSE = L1 = 1
    student, distill = 6.0, 1.0
    assert total.item() == pytest.approx((1 - alpha) * student + alpha * distill, abs=1e-6)
    assert log_vars["student.acc"].item() == pytest.approx(0.9)  # passed through unscaled
    if alpha > 0:
        assert log_vars["distill.loss_feat"].item() == pytest.approx(alpha * distill, abs=1e-6)
        assert model.last_distill_values["feat"] == pytest.approx(distill, abs=1e-6)
    else:
        assert "distill.loss_feat" not in log_vars and model.teacher.calls == []
    assert set(k.split(".")[0] for k in log_vars if k != "loss") <= {"student", "distill"}


def test_teacher_gets_raw_frames_in_its_channel_order() -> None:
    batch = make_batch()
    for order in ("rgb", "bgr"):
        model = _fixed_distiller(0.5, channel_order=order)
        model(**model.data_preprocessor(copy.deepcopy(batch), True), mode="loss")
        (given,) = model.teacher.calls
        for i, frame in enumerate(batch["inputs"]):  # loaded frames are BGR
            expected = frame.flip(0) if order == "rgb" else frame
            assert torch.allclose(given[i], expected.float(), atol=1e-4)


def test_switched_off_runs_no_teacher_and_weights_student_by_one() -> None:
    model = _fixed_distiller(0.5)
    model.distill_enabled = False
    total, _ = model.parse_losses(model(**model.data_preprocessor(make_batch(), True), mode="loss"))
    assert total.item() == pytest.approx(6.0) and model.teacher.calls == []


@pytest.mark.parametrize("side", ["student", "teacher"])
def test_gradients_reach_student_and_connector_never_teacher(side: str) -> None:
    torch.manual_seed(0)
    if side == "student":
        cfg = tiny_distiller_cfg()
    else:  # adapt the teacher to the student: upsample + 1x1 conv 48 -> 16
        cfg = tiny_distiller_cfg(
            connectors=dict(t2s=dict(type="Conv1x1Connector", in_channels=48, out_channels=16)),
            distill_losses=dict(
                dino=dict(
                    loss=dict(type="CosineDistillLoss"), student="p3", teacher_connector="t2s"
                )
            ),
        )
    model = MODELS.build(cfg)
    model.train()
    losses = model(**model.data_preprocessor(make_batch(), True), mode="loss")
    total, _ = model.parse_losses(losses)
    total.backward()
    # the distillation term alone reaches the backbone through the tapped neck
    backbone_grad = model.student.backbone.conv1.weight.grad
    assert backbone_grad is not None and backbone_grad.abs().sum() > 0
    for param in model.connectors.parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0
    for name, param in model.teacher.named_parameters():
        assert not param.requires_grad and param.grad is None, name
    assert set(model.last_similarity) == {"dino"} and -1.0 <= model.last_similarity["dino"] <= 1.0


def test_distill_gradient_is_alpha_times_the_loss_gradient() -> None:
    torch.manual_seed(0)
    model = MODELS.build(tiny_distiller_cfg(alpha=0.3))
    model.train()
    data = model.data_preprocessor(make_batch(), True)
    losses = model(**data, mode="loss")
    losses["distill.loss_dino"].backward()
    weighted = model.connectors["s2t"].conv.weight.grad.clone()
    model.zero_grad()
    model.alpha = 1.0
    model(**data, mode="loss")["distill.loss_dino"].backward()
    assert torch.allclose(weighted, 0.3 * model.connectors["s2t"].conv.weight.grad, atol=1e-7)


def test_teacher_stays_in_eval_mode() -> None:
    model = MODELS.build(tiny_distiller_cfg())
    model.train()
    assert model.student.training and model.connectors.training
    assert not any(m.training for m in model.teacher.modules())
    spy = _fixed_distiller(0.5)
    spy.train()
    assert spy.student.training and not spy.teacher.bn.training
    assert all(not p.requires_grad for p in spy.teacher.parameters())


def test_predict_and_tensor_paths_are_the_students() -> None:
    torch.manual_seed(0)
    model = MODELS.build(tiny_distiller_cfg())
    plain = MODELS.build(tiny_student_cfg())
    plain.load_state_dict(model.student.state_dict())
    model.eval()
    plain.eval()
    batch = make_batch()
    with torch.no_grad():
        ours = model.test_step(copy.deepcopy(batch))
        theirs = plain.test_step(copy.deepcopy(batch))
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        ours_t = model(**data, mode="tensor")
        theirs_t = plain(**data, mode="tensor")
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.scores, b.pred_instances.scores)
    for a, b in zip(ours_t[0], theirs_t[0]):
        assert torch.equal(a, b)
    assert model.data_preprocessor is model.student.data_preprocessor


def test_config_errors_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"distill_losses\['dino'\].student = 'p4' is not a student tap"
    ):
        MODELS.build(
            tiny_distiller_cfg(
                distill_losses=dict(dino=dict(loss=dict(type="CosineDistillLoss"), student="p4"))
            )
        )
    with pytest.raises(ValueError, match=r"student_connector = 'nope' is not a connector"):
        MODELS.build(
            tiny_distiller_cfg(
                distill_losses=dict(
                    dino=dict(
                        loss=dict(type="CosineDistillLoss"), student="p3", student_connector="nope"
                    )
                )
            )
        )
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        MODELS.build(tiny_distiller_cfg(alpha=1.5))


def test_random_teacher_refused_inside_distiller() -> None:
    from mmdistillmot.models.teachers import TeacherNotReadyError

    model = MODELS.build(tiny_distiller_cfg(teacher=tiny_teacher_cfg(allow_random_init=False)))
    with pytest.raises(TeacherNotReadyError, match="has no weights"):
        model(**model.data_preprocessor(make_batch(), True), mode="loss")


def test_training_step_reads_no_tensor_back_to_the_host(monkeypatch) -> None:
    """The logging values stay tensors in the step (a float() per loss is a device sync).

    With the fixed-loss student nothing else in the step converts a tensor to a number, so
    ``Tensor.__float__`` / ``Tensor.item`` made to raise prove the distiller does not either;
    reading ``last_similarity`` afterwards does (that is DistillHook's job, at log intervals).
    """
    model = _fixed_distiller(0.5, "CosineDistillLoss")
    batch = model.data_preprocessor(make_batch(), True)

    def refuse(*args: Any, **kwargs: Any) -> float:
        raise AssertionError("a tensor was read back to the host during the step")

    with monkeypatch.context() as patch:
        patch.setattr(torch.Tensor, "__float__", refuse)
        patch.setattr(torch.Tensor, "item", refuse)
        model(**batch, mode="loss")
    assert set(model.last_similarity) == {"feat"}
    assert model.last_distill_values["feat"] == pytest.approx(
        1.0 - model.last_similarity["feat"], abs=1e-5
    )


def test_the_teacher_is_not_in_the_state_and_not_loaded() -> None:
    """Checkpoints hold no teacher tensor; loading never copies onto the live teacher.

    mmengine's ``get_state_dict`` (what ``save_checkpoint`` writes) and torch's
    ``state_dict`` both leave the teacher out; a strict load of that state works, and a state
    that does carry (other) teacher tensors leaves the live teacher's untouched.
    """
    from mmengine.runner.checkpoint import get_state_dict, load_state_dict

    model = MODELS.build(tiny_distiller_cfg())
    teacher_keys = {f"teacher.{k}" for k in model.teacher.state_dict()}
    assert teacher_keys
    for state in (model.state_dict(), get_state_dict(model)):
        assert not teacher_keys & set(state)
        assert any(k.startswith("student.") for k in state)
    other = MODELS.build(tiny_distiller_cfg())
    live = copy.deepcopy(other.teacher.state_dict())
    other.load_state_dict(model.state_dict(), strict=True)
    load_state_dict(other, get_state_dict(model), strict=True)
    foreign = dict(model.state_dict())
    foreign.update({f"teacher.{k}": torch.full_like(v, 7) for k, v in live.items()})
    other.load_state_dict(foreign, strict=True)
    for key, value in live.items():
        assert torch.equal(other.teacher.state_dict()[key], value)
    for key, value in model.student.state_dict().items():
        assert torch.equal(other.student.state_dict()[key], value)
