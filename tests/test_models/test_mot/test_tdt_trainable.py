"""TDT(trainable=...): only the named branch learns; the frozen detector's BatchNorm stays put."""

from __future__ import annotations

import pytest
import torch
from mmdet.registry import MODELS
from torch import nn

import mmdistillmot  # noqa: F401
from mmdistillmot.models.mot.tdt import TDT


@MODELS.register_module(force=True)
class _TinyEmbedDetector(nn.Module):
    """A 'detector' whose loss touches a backbone (conv + BN) and an embedding branch."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.embed_branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))

    def loss(self, inputs, data_samples):  # noqa: ANN001, ANN201
        features = self.backbone(inputs)
        return dict(
            loss_det=features.pow(2).mean(), loss_embed=self.embed_branch(features).pow(2).mean()
        )


TRACKER = dict(type="JDETracker")


def _train_steps(model: TDT, steps: int = 3) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1)
    model.train()
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        inputs = torch.randn(2, 3, 8, 8, generator=generator) * 3 + 1  # stats far from BN's
        loss = sum(model.loss(inputs, []).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_only_the_named_parameters_change_and_frozen_bn_keeps_its_statistics() -> None:
    model = TDT(detector=dict(type="_TinyEmbedDetector"), tracker=TRACKER, trainable=["embed"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_steps(model)
    after = model.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    backbone = [k for k in changed if k.startswith("detector.backbone")]
    assert backbone == []  # weights, BN affine and BN running statistics alike
    assert "detector.embed_branch.0.weight" in changed
    assert "detector.embed_branch.1.running_mean" in changed  # trainable BN still learns stats
    assert not model.detector.backbone[1].training and model.detector.embed_branch[1].training
    assert all(not p.requires_grad for p in model.detector.backbone.parameters())


def test_without_trainable_everything_trains() -> None:
    model = TDT(detector=dict(type="_TinyEmbedDetector"), tracker=TRACKER)
    before = model.detector.backbone[1].running_mean.clone()
    _train_steps(model, steps=1)
    assert not torch.equal(before, model.detector.backbone[1].running_mean)
    assert model.detector.backbone[1].training


def test_trainable_matching_nothing_is_refused_naming_a_parameter() -> None:
    with pytest.raises(ValueError, match=r"matches no parameter name .*detector\.backbone"):
        TDT(detector=dict(type="_TinyEmbedDetector"), tracker=TRACKER, trainable=["nothing"])
