"""FairMOT's loss terms against hand computations (8x8 grid, one object at (x=3, y=4))."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmdistillmot.models.dense_heads.centernet_targets import build_centernet_targets
from mmdistillmot.models.dense_heads.fairmot_losses import (
    centernet_focal_loss,
    gathered_l1_loss,
    identity_embedding_scale,
    identity_loss,
)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.fixture()
def one_object():
    # The box of test_centernet_targets: centre (3, 4), radius 1, ltrb (2, 2, 2, 2), offset 0.5.
    return build_centernet_targets(
        [torch.tensor([[6.0, 10.0, 22.0, 26.0]])], [torch.tensor([0])], [torch.tensor([1])], (8, 8)
    )


def test_focal_loss_by_hand(one_object) -> None:
    logits = torch.full((1, 1, 8, 8), _logit(0.1), dtype=torch.float64)
    logits[0, 0, 4, 3] = _logit(0.8)
    loss = centernet_focal_loss(logits, one_object.heatmap.double())
    # positive: -(1 - 0.8)^2 log 0.8; negatives: p^2 (-log(1 - p)) (1 - y)^4 with p = 0.1 on
    # 4 neighbours (y = e^-2), 4 diagonals (y = e^-4) and 55 zeros; divided by 1 positive.
    pos = -((1 - 0.8) ** 2) * math.log(0.8)
    weights = 55 + 4 * (1 - math.exp(-2)) ** 4 + 4 * (1 - math.exp(-4)) ** 4
    neg = 0.1**2 * -math.log(0.9) * weights
    assert float(loss) == pytest.approx(pos + neg, rel=1e-9)


def test_focal_loss_clamps_probabilities_and_handles_no_positive() -> None:
    target = torch.zeros(1, 1, 2, 2)
    logits = torch.full((1, 1, 2, 2), -50.0)
    logits[0, 0, 0, 0] = 50.0  # a confident false positive: p clamped to 1 - 1e-4
    loss = centernet_focal_loss(logits, target)
    # No positive: the sum is not divided. Clamped: (1-1e-4)^2 * -log(1e-4) + 3 * (1e-4)^2 *
    # -log(1 - 1e-4); unclamped it would be ~50.
    expected = (1 - 1e-4) ** 2 * -math.log(1e-4) + 3 * (1e-4) ** 2 * -math.log(1 - 1e-4)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_gathered_l1_by_hand(one_object) -> None:
    wh = torch.zeros(1, 4, 8, 8)
    wh[0, :, 4, 3] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    wh[0, :, 0, 0] = 100.0  # away from the centre: never read
    # |1-2| + |2-2| + |3-2| + |4-2| = 4, over num_objects * 4 channels + 1e-4
    loss = gathered_l1_loss(wh, one_object.indices, one_object.mask, one_object.ltrb)
    assert float(loss) == pytest.approx(4 / (4 + 1e-4))
    offset = torch.zeros(1, 2, 8, 8)  # target (0.5, 0.5): error 1 over 2 channels
    loss = gathered_l1_loss(offset, one_object.indices, one_object.mask, one_object.offset)
    assert float(loss) == pytest.approx(1 / (2 + 1e-4))


def test_gathered_l1_ignores_padding() -> None:
    pred = torch.ones(1, 2, 4, 4)
    loss = gathered_l1_loss(
        pred, torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3, dtype=torch.bool),
        torch.zeros(1, 3, 2),
    )  # fmt: skip
    assert float(loss) == 0.0


def test_identity_loss_by_hand(one_object) -> None:
    num_ids = 4
    scale = identity_embedding_scale(num_ids)
    assert scale == pytest.approx(math.sqrt(2) * math.log(3))
    id_map = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    id_map[0, :, 4, 3] = torch.tensor([3.0, 4.0])  # normalised: (0.6, 0.8)
    classifier = nn.Linear(2, num_ids).double()
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
        classifier.bias.zero_()
    loss = identity_loss(
        id_map, one_object.indices, one_object.mask, one_object.identities, classifier, scale
    )
    logits = [scale * 0.6, scale * 0.8, -scale * 0.6, -scale * 0.8]
    expected = -logits[1] + math.log(sum(math.exp(v) for v in logits))  # identity 1
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_identity_loss_ignores_minus_one_and_keeps_graph() -> None:
    targets = build_centernet_targets(
        [torch.tensor([[0.0, 0.0, 16.0, 16.0]])], [torch.tensor([0])], [torch.tensor([-1])], (8, 8)
    )
    id_map = torch.randn(1, 4, 8, 8, requires_grad=True)
    classifier = nn.Linear(4, 5)
    loss = identity_loss(id_map, targets.indices, targets.mask, targets.identities, classifier, 2.0)
    assert float(loss) == 0.0
    loss.backward()  # no error: the zero is connected to the classifier
    assert classifier.weight.grad is not None


def test_identity_scale_needs_more_than_two_identities() -> None:
    with pytest.raises(ValueError, match="num_identities"):
        identity_embedding_scale(2)
