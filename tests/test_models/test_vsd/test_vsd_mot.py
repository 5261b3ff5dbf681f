"""VSDMOT: one training iteration on a 2-frame clip, equation 15, raw frames, student-only saves."""

from __future__ import annotations

import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.runner import load_checkpoint
from vsd_testing import (
    FRAME_H,
    FRAME_W,
    register_vsd_modules,
    tiny_vsd_mot_cfg,
    two_frame_clip,
)

from mmdistillmot.models.distillers.student_checkpoint import (
    DISTILL_STATE_KEY,
    to_student_checkpoint,
)


@pytest.fixture(scope="module")
def model():
    register_vsd_modules()
    torch.manual_seed(0)
    vsd = MODELS.build(tiny_vsd_mot_cfg(alpha=0.4))
    vsd.init_weights()
    return vsd


def _batch(model, training: bool, seed: int = 0):
    return model.data_preprocessor(two_frame_clip(seed), training=training)


def test_one_training_iteration(model):
    model.train()
    model.zero_grad()
    batch = _batch(model, training=True)
    assert batch["inputs"].shape == (1, 2, 3, FRAME_H, FRAME_W)
    losses = model(**batch, mode="loss")
    for key in ("student.loss_cls", "student.loss_bbox", "student.loss_iou", "distill.loss_dcsd"):
        assert key in losses and torch.isfinite(losses[key]), key
    assert 0.0 <= float(losses["student.vsd_frame_quality"]) <= 1.0
    assert 0.0 < float(losses["student.vsd_semantic_weight"]) < 1.0
    # DSWR's W is logged as it is (-4 at the start), not weighted by 1 - alpha, not summed
    assert float(losses["student.vsd_dswr_W"]) == pytest.approx(-4.0)
    parsed, log_vars = model.parse_losses(losses)
    assert "student.vsd_dswr_W" in log_vars
    summed = sum(v for k, v in losses.items() if "loss" in k)
    assert torch.allclose(parsed, summed)
    total = sum(v for k, v in losses.items() if "loss" in k)
    total.backward()
    refiner = model.student.query_refiner
    assert refiner.student.input_proj.weight.grad.abs().sum() > 0
    assert refiner.fusion.weight_raw.grad is not None and refiner.fusion.bias.grad is not None
    assert model.distill_losses["dcsd"].teacher_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())
    assert not model.teacher.training


def test_total_loss_is_equation_15(model):
    model.train()
    batch = _batch(model, training=True)
    torch.manual_seed(3)  # query denoising and dropout draw random numbers
    losses = model(**batch, mode="loss")
    torch.manual_seed(3)
    plain = model.student(**copy.deepcopy(batch), mode="loss")  # L_mot of the same student
    alpha = 0.4
    for key, value in plain.items():
        if "loss" in key:
            assert torch.allclose(losses[f"student.{key}"], (1 - alpha) * value, atol=1e-6), key
        else:  # logged values pass through unscaled
            assert torch.allclose(losses[f"student.{key}"], value), key
    distill = model.last_distill_values["dcsd"]
    assert float(losses["distill.loss_dcsd"]) == pytest.approx(alpha * distill, rel=1e-6)


def test_teacher_gets_raw_frames_and_each_frame_its_own_feature(model):
    model.train()
    data = two_frame_clip(seed=5)
    raw_bgr = data["inputs"][0].float()
    seen_by_teacher, loss_calls = [], []
    hooks = [
        model.teacher.register_forward_pre_hook(lambda m, a: seen_by_teacher.append(a[0])),
        model.distill_losses["dcsd"].register_forward_pre_hook(
            lambda m, a: loss_calls.append((a[0].detach(), a[1].detach()))
        ),
    ]
    try:
        model(**model.data_preprocessor(data, training=True), mode="loss")
    finally:
        for hook in hooks:
            hook.remove()
    # the teacher (channel_order 'bgr') sees the loaded uint8 frames, not the normalised tensor
    assert len(seen_by_teacher) == 1
    assert torch.allclose(seen_by_teacher[0], raw_bgr, atol=1e-3)
    # DCSD ran once per frame, on that frame's queries and that frame's CLIP feature
    assert len(loss_calls) == 2
    with torch.no_grad():
        per_frame = [model.teacher(raw_bgr[t : t + 1]) for t in range(2)]
    for t, (student, teacher) in enumerate(loss_calls):
        assert student.dim() == 3 and student.shape[0] == 1 and student.shape[-1] == 32
        assert torch.allclose(teacher, per_frame[t], atol=1e-5)
    assert not torch.allclose(per_frame[0], per_frame[1])


def test_prediction_runs_the_student_only(model):
    model.eval()
    calls = []
    hook = model.teacher.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            out = model(**_batch(model, training=False), mode="predict")
    finally:
        hook.remove()
    assert calls == []
    frames = out[0]
    for t in range(len(frames)):
        pred = frames[t].pred_track_instances
        assert pred.bboxes.shape[-1] == 4 and len(pred.instances_id) == len(pred.scores)


def test_checkpoint_holds_the_student_with_its_vsd_modules(model):
    checkpoint = to_student_checkpoint({"state_dict": copy.copy(model.state_dict())})
    keys = list(checkpoint["state_dict"])
    assert not any(k.startswith("teacher.") for k in keys)
    assert not any(k.startswith("student.") for k in keys)
    assert "query_refiner.student.input_proj.weight" in keys  # deployed with the tracker
    assert "query_refiner.fusion.weight_raw" in keys
    assert "distill_losses.dcsd.teacher_proj.weight" in checkpoint[DISTILL_STATE_KEY]


@pytest.mark.parametrize(("fusion", "dual"), [(False, True), (False, False)])
def test_ablation_variants_train(fusion, dual):
    register_vsd_modules()
    torch.manual_seed(0)
    vsd = MODELS.build(tiny_vsd_mot_cfg(alpha=0.5, fusion=fusion, dual_constraint=dual))
    vsd.init_weights()
    vsd.train()
    losses = vsd(**vsd.data_preprocessor(two_frame_clip(), training=True), mode="loss")
    assert torch.isfinite(losses["distill.loss_dcsd"])
    assert "student.vsd_semantic_weight" not in losses  # no DSWR: the student output is used
    names = {n for n, _ in vsd.named_parameters()}
    # the "+CLIP distillation" row has no term weights to learn (nor to leave unused)
    assert ("distill_losses.dcsd.weight_logits" in names) == dual


def test_testing_a_checkpoint_needs_no_clip_file(model, tmp_path):
    """tools/test.py on a VSD checkpoint: no CLIP tower is built, no weight file is read."""
    model.eval()
    path = tmp_path / "student.pth"
    torch.save(to_student_checkpoint({"state_dict": copy.copy(model.state_dict())}), path)
    cfg = tiny_vsd_mot_cfg(alpha=0.4)
    missing = tmp_path / "no_such_clip.bin"
    cfg["teacher"] = dict(cfg["teacher"], weights=str(missing), allow_random_init=False)
    tester = MODELS.build(cfg)  # the teacher is not built: its file is not needed
    assert not tester.teacher.built and not list(tester.teacher.parameters())
    load_checkpoint(tester, str(path), map_location="cpu", strict=True)
    tester.eval()
    want_state = model.student.state_dict()
    for key, value in tester.student.state_dict().items():
        assert torch.equal(value, want_state[key]), key
    batch = _batch(model, training=False)
    with torch.no_grad():
        (expected,) = model(**copy.deepcopy(batch), mode="predict")
        (result,) = tester(**batch, mode="predict")
        logits, _ = tester(**copy.deepcopy(batch), mode="tensor")
        torch.testing.assert_close(logits, model(**copy.deepcopy(batch), mode="tensor")[0])
    assert not tester.teacher.built
    for t in range(len(result)):
        got, want = result[t].pred_track_instances, expected[t].pred_track_instances
        torch.testing.assert_close(got.bboxes, want.bboxes)
        assert got.instances_id.tolist() == want.instances_id.tolist()
    # training still needs the teacher: the first step builds it and fails on the file
    tester.train()
    with pytest.raises(Exception, match="no_such_clip"):
        tester(**_batch(tester, training=True), mode="loss")
