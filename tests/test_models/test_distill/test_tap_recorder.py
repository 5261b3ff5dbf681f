"""TapRecorder: hooks record named submodules' outputs without changing the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmdistillmot.models.distillers import TapError, TapRecorder


class TwoStage(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        self.heads = nn.ModuleDict(dict(a=nn.Linear(4, 2)))

    def forward(self, x: torch.Tensor, repeat: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(repeat):
            feat = self.body(x)
        return feat, self.heads["a"](feat)


def test_records_outputs_inputs_and_items_without_patching() -> None:
    model = TwoStage()
    forward_before = model.forward
    recorder = TapRecorder(
        model,
        dict(
            feat="body",
            relu_in=dict(module="body.1", source="input"),
            head="heads.a",
            second=dict(module="", index=1),
        ),
        owner="student",
    )
    x = torch.randn(5, 3)
    with recorder.recording():
        feat, out = model(x)
    assert torch.equal(recorder.get("feat"), feat)
    assert torch.equal(recorder.get("relu_in"), model.body[0](x))
    assert torch.equal(recorder.get("head"), out)
    assert torch.equal(recorder.get("second"), out)
    # no method replaced, outputs unchanged, records keep the graph for the loss
    assert model.forward == forward_before
    assert recorder.get("feat").grad_fn is not None


def test_inactive_outside_recording_and_removed_cleanly() -> None:
    model = TwoStage()
    recorder = TapRecorder(model, dict(feat="body"), owner="student")
    model(torch.randn(2, 3))
    with pytest.raises(TapError, match="did not run"):
        recorder.get("feat")
    recorder.remove()
    assert not model.body._forward_hooks
    with recorder.recording():
        model(torch.randn(2, 3))
    with pytest.raises(TapError, match="did not run"):
        recorder.get("feat")


def test_repeated_calls_need_a_call_index() -> None:
    model = TwoStage()
    recorder = TapRecorder(
        model, dict(any="body", last=dict(module="body", call=-1)), owner="student"
    )
    x = torch.randn(2, 3)
    with recorder.recording():
        feat, _ = model(x, repeat=3)
    with pytest.raises(TapError, match="ran 3 times; set `call`"):
        recorder.get("any")
    assert torch.equal(recorder.get("last"), feat)


def test_bad_specs_are_named() -> None:
    model = TwoStage()
    with pytest.raises(TapError, match="student tap 'x': no submodule 'bodyy'"):
        TapRecorder(model, dict(x="bodyy"), owner="student")
    with pytest.raises(ValueError, match="unknown fields"):
        TapRecorder(model, dict(x=dict(module="body", idx=0)), owner="student")
    recorder = TapRecorder(model, dict(pair=""), owner="teacher")
    with recorder.recording():
        model(torch.randn(2, 3))
    with pytest.raises(TapError, match="is a tuple, not a tensor; set `index`"):
        recorder.get("pair")
