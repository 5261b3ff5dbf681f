"""Cosine / MSE / L1 distillation losses against values worked by hand."""

from __future__ import annotations

import math

import pytest
import torch
from mmdet.registry import MODELS

import mmdistillmot  # noqa: F401


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    # two samples, each a [1, 1, 2] map = a 2-vector once flattened
    student = torch.tensor([[[[1.0, 0.0]]], [[[3.0, 4.0]]]])
    teacher = torch.tensor([[[[1.0, 1.0]]], [[[3.0, 4.0]]]])
    return student, teacher


def test_cosine_by_hand() -> None:
    student, teacher = _pair()
    loss = MODELS.build(dict(type="CosineDistillLoss", loss_weight=2.0))(student, teacher)
    # sample 0: cos((1,0),(1,1)) = 1/sqrt(2); sample 1: identical vectors, cos = 1
    expected = 2.0 * ((1 - 1 / math.sqrt(2)) + (1 - 1.0)) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_cosine_matches_torch_cosine_embedding_loss_and_ignores_scale() -> None:
    gen = torch.Generator().manual_seed(0)
    student = torch.randn(3, 4, 5, 6, generator=gen)
    teacher = torch.randn(3, 4, 5, 6, generator=gen)
    ours = MODELS.build(dict(type="CosineDistillLoss"))(student, teacher)
    ref = torch.nn.CosineEmbeddingLoss()(student.flatten(1), teacher.flatten(1), torch.ones(3))
    assert ours.item() == pytest.approx(ref.item(), abs=1e-6)
    scaled = MODELS.build(dict(type="CosineDistillLoss"))(student * 7.0, teacher)
    assert scaled.item() == pytest.approx(ours.item(), abs=1e-6)


def test_mse_and_l1_by_hand() -> None:
    student, teacher = _pair()
    # differences: (0, -1) and (0, 0) over 4 elements
    mse = MODELS.build(dict(type="MSEDistillLoss", loss_weight=3.0))(student, teacher)
    l1 = MODELS.build(dict(type="L1DistillLoss", loss_weight=0.5))(student, teacher)
    assert mse.item() == pytest.approx(3.0 * 1.0 / 4)
    assert l1.item() == pytest.approx(0.5 * 1.0 / 4)


@pytest.mark.parametrize("name", ["CosineDistillLoss", "MSEDistillLoss", "L1DistillLoss"])
def test_shape_mismatch_names_both_shapes(name: str) -> None:
    loss = MODELS.build(dict(type=name))
    with pytest.raises(ValueError, match=r"student \(1, 2, 3, 3\) and teacher \(1, 4, 3, 3\)"):
        loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3))


def test_gradient_flows_to_student_only_input() -> None:
    student = torch.randn(2, 3, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 3, 4, 4)
    MODELS.build(dict(type="CosineDistillLoss"))(student, teacher).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
