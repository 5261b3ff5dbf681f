"""QIM learns in a training step: a track matched again in the next frame sends its loss into QIM.

The model is the CPU-sized MOTRv2 of ``configs/vsd_mot/motrv2_r18_synthetic-lq_cpu.py`` (the
smallest MOTRv2 config: ResNet-18, d 128, 2 + 3 layers) on a 2-frame clip of 64x96 frames with
two people and one proposal each (``conftest.make_clip``).

QIM rewrites the content of *confident* tracks only (score > 0.5; MOTRv2's ``is_pos`` in
``_update_track_embedding``); a freshly initialised MOTRv2 scores every query near its 0.01
prior, so the clip is set up as a partly trained model sees it: the class heads' bias makes the
frame-1 scores confident, the first box head's (w, h) bias of -2 is zeroed so that the proposal
queries predict about their proposals (IoU > 0.5 with the ground truth: QIM keeps their ids),
and the box heads' zero-initialised last layers get small weights (at zero, a box does not
depend on its query, and no box loss reaches any query).
Then frame 1 gives the two proposal queries the ids 4 and 9, QIM carries and updates them, and
frame 2's ClipMatcher assigns them their objects by id; their box losses in frame 2 depend on
QIM's output, so every QIM parameter gets a gradient from them alone.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import REPO_ROOT, build_tiny, make_clip
from mmengine.config import Config
from mmengine.registry import init_default_scope

CONFIG = REPO_ROOT / "configs" / "vsd_mot" / "motrv2_r18_synthetic-lq_cpu.py"
#: Objects of make_clip, in ground-truth order.
IDS = [4, 9]


@pytest.fixture(scope="module")
def model_cfg() -> Config:
    init_default_scope("mmdet")
    return Config.fromfile(str(CONFIG)).model


def _model(model_cfg: Config, confident: bool) -> torch.nn.Module:
    model = build_tiny(model_cfg)
    assert model.qim.score_thr == 0.5 and model.qim.train_iou_thr == 0.5
    if confident:
        for branch in model.cls_branches:  # sigmoid(3) = 0.95 > score_thr
            torch.nn.init.constant_(branch.bias, 3.0)
    torch.nn.init.zeros_(model.reg_branches[0][-1].bias)  # boxes ~ references (the proposals)
    # the box heads' last layers start at zero: their deltas, and so the box losses, would not
    # depend on the queries at all (no gradient reaches the decoder through W = 0)
    generator = torch.Generator().manual_seed(1)
    for branch in model.reg_branches:
        with torch.no_grad():
            weight = branch[-1].weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 1e-2)
    return model.train()


def _clip_step(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch, loss_keys: tuple[str, ...]):
    """Run the clip's losses, backpropagate ``loss_keys``; the ClipMatcher's records per frame."""
    frames: list[dict] = []
    match = model.criterion.forward

    def recording_match(tracks, *args, **kwargs):
        losses, matched = match(tracks, *args, **kwargs)
        frames.append(
            dict(
                num=len(tracks),
                ids_in=tracks.obj_ids.tolist(),
                matched_gt=matched.matched_gt.tolist(),
                scores=tracks.scores.tolist(),
                iou=matched.iou.tolist(),
            )
        )
        return losses, matched

    monkeypatch.setattr(model.criterion, "forward", recording_match)
    inputs, samples = make_clip(num_frames=2)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)
    losses = model(**data, mode="loss")
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses[key] for key in loss_keys).backward()
    return frames


def _qim_grad_norms(model: torch.nn.Module) -> dict[str, float]:
    """Gradient norm of every QIM parameter (0 for no gradient)."""
    return {
        name: 0.0 if param.grad is None else param.grad.norm().item()
        for name, param in model.qim.named_parameters()
    }


# frame 2's box losses of the last layer: only matched queries have any, and in frame 2 both
# objects are claimed by the carried tracks, so these terms come from the two tracks alone
BOX_LOSSES = ("loss_bbox", "loss_iou")


def test_track_matched_in_the_next_frame_sends_gradient_into_every_qim_parameter(
    model_cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(model_cfg, confident=True)
    frames = _clip_step(model, monkeypatch, BOX_LOSSES)
    first, second = frames
    # frame 1: 10 detect queries + 2 proposal queries; the proposal queries match the objects
    assert first["num"] == 12 and first["ids_in"] == [-1] * 12
    assert first["matched_gt"][10:] == [0, 1] and first["matched_gt"][:10] == [-1] * 10
    assert min(first["iou"][10:]) > 0.5 and min(first["scores"]) > 0.5
    # frame 2: 12 new queries, then the 12 carried (all confident); the two tracks keep their
    # ids and are matched by id, no new query gets an object
    assert second["num"] == 24
    carried_ids = second["ids_in"][12:]
    assert carried_ids[10:] == IDS and carried_ids[:10] == [-1] * 10
    assert second["matched_gt"][22:] == [0, 1]
    assert second["matched_gt"][:22] == [-1] * 22

    grads = _qim_grad_norms(model)
    assert set(grads) >= {"self_attn.in_proj_weight", "ffn_in.weight", "content_out.weight"}
    missing = [name for name, norm in grads.items() if not (norm > 0 and math.isfinite(norm))]
    assert not missing, f"QIM parameters without a gradient: {missing}"


def test_detaching_qims_output_leaves_qim_without_gradient(
    model_cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutation the test above must catch: QIM's new content cut from the graph."""
    model = _model(model_cfg, confident=True)
    update = model.qim.forward

    def detached(tracks, training):
        out = update(tracks, training)
        out.content = out.content.detach()
        return out

    monkeypatch.setattr(model.qim, "forward", detached)
    frames = _clip_step(model, monkeypatch, BOX_LOSSES)
    assert frames[1]["matched_gt"][22:] == [0, 1]  # the same matching as above
    assert all(norm == 0.0 for norm in _qim_grad_norms(model).values())


def test_unconfident_tracks_are_carried_unchanged_so_qim_gets_no_gradient(
    model_cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MOTRv2's rule at the prior scores (0.01): the tracks survive by id, QIM leaves them."""
    model = _model(model_cfg, confident=False)
    frames = _clip_step(model, monkeypatch, BOX_LOSSES)
    first, second = frames
    assert max(first["scores"]) < 0.5
    # only the two tracks survive (they have an id); they are matched by id in frame 2
    assert second["num"] == 14 and second["ids_in"][12:] == IDS
    assert second["matched_gt"][12:] == [0, 1]
    assert all(norm == 0.0 for norm in _qim_grad_norms(model).values())
