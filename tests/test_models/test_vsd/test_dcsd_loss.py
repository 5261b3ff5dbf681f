"""DCSDLoss against equations 4-12 worked by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from mmdistillmot.models.losses.dcsd_loss import DCSDLoss


def _loss(student_dim: int, teacher_dim: int, weight: list, bias: list, **kwargs) -> DCSDLoss:
    loss = DCSDLoss(student_dim=student_dim, teacher_dim=teacher_dim, **kwargs)
    with torch.no_grad():
        loss.teacher_proj.weight.copy_(torch.tensor(weight))
        loss.teacher_proj.bias.copy_(torch.tensor(bias))
    return loss


# ---------------------------------------------------------------------------------------------
# Case 1, the paper's shapes: one teacher token T (1 x 2), student S (2 x 2).
#   Linear_teacher: W = [[1, 0], [0, 2]], b = [0, 1];  T = [1, -1]
#   (4)  T_proj  = [1*1 + 0, 2*(-1) + 1] = [1, -1]
#   (5)  T_align = [[1, -1], [1, -1]]            (a single token replicated)
#   (8)  every row of T_norm is the same, so each row of A is [1/2, 1/2]
#   (9)  T_weighted = T_align
#   S = [[1, 0], [0, 1]]
#   (10) L_local  = mean((1-1)^2, (0+1)^2, (0-1)^2, (1+1)^2) = (0 + 1 + 1 + 4) / 4 = 1.5
#   (11) Mean(S) = [0.5, 0.5], Mean(T_align) = [1, -1]
#        L_global = (|0.5 - 1| + |0.5 + 1|) / 2 = 1.0
#   (12) w = softmax([0, 0]) = [0.5, 0.5] -> L = 1.25
#        w = softmax([ln 3, 0]) = [0.75, 0.25] -> L = 1.125 + 0.25 = 1.375
# ---------------------------------------------------------------------------------------------
S1 = [[1.0, 0.0], [0.0, 1.0]]
T1 = [1.0, -1.0]
W1, B1 = [[1.0, 0.0], [0.0, 2.0]], [0.0, 1.0]


def test_single_teacher_token_by_hand():
    loss = _loss(2, 2, W1, B1)
    parts = loss.terms(torch.tensor(S1), torch.tensor([T1]))
    assert torch.allclose(parts["t_align"], torch.tensor([[[1.0, -1.0], [1.0, -1.0]]]))
    assert torch.allclose(parts["attention"], torch.full((1, 2, 2), 0.5))
    assert torch.allclose(parts["t_weighted"], parts["t_align"])
    assert parts["local"].item() == pytest.approx(1.5)
    assert parts["global"].item() == pytest.approx(1.0)
    assert loss(torch.tensor(S1), torch.tensor([T1])).item() == pytest.approx(1.25)
    with torch.no_grad():
        loss.weight_logits.copy_(torch.tensor([math.log(3.0), 0.0]))
    assert loss(torch.tensor(S1), torch.tensor([T1])).item() == pytest.approx(1.375)


def test_plain_distillation_ablation_by_hand():
    # dual_constraint=False: MSE(S, T_align) = 1.5 (the same numbers as L_local above)
    loss = _loss(2, 2, W1, B1, dual_constraint=False)
    assert loss(torch.tensor(S1), torch.tensor([T1])).item() == pytest.approx(1.5)


# ---------------------------------------------------------------------------------------------
# Case 2, where the attention matters: two teacher tokens, three student positions.
#   Linear_teacher = identity; T = [[1, 0], [0, 1]] -> T_proj = T
#   (5) linear interpolation 2 -> 3 (align_corners=False): source x_i = (i + 0.5) * 2/3 - 0.5
#       = -1/6 (clamped to 0), 1/2, 7/6 (clamped to 1):
#       T_align = [[1, 0], [0.5, 0.5], [0, 1]]
#   S = [[2, 0], [0, 3], [1, 1]]
# Equations 6-11 are evaluated below with plain Python arithmetic.
# ---------------------------------------------------------------------------------------------
S2 = [[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]]
T2 = [[1.0, 0.0], [0.0, 1.0]]


def _hand_dcsd(s: list, t_align: list, tau: float) -> tuple[list, float, float]:
    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    s_norm, t_norm = [unit(r) for r in s], [unit(r) for r in t_align]
    attention = []
    for a in s_norm:
        logits = [sum(x * y for x, y in zip(a, b)) / tau for b in t_norm]
        exps = [math.exp(v) for v in logits]
        attention.append([e / sum(exps) for e in exps])
    t_weighted = [
        [sum(attention[i][j] * t_align[j][k] for j in range(len(t_align))) for k in range(2)]
        for i in range(len(s))
    ]
    sq = [(s[i][k] - t_weighted[i][k]) ** 2 for i in range(len(s)) for k in range(2)]
    local = sum(sq) / len(sq)
    mean_s = [sum(r[k] for r in s) / len(s) for k in range(2)]
    mean_t = [sum(r[k] for r in t_align) / len(t_align) for k in range(2)]
    global_ = sum(abs(a - b) for a, b in zip(mean_s, mean_t)) / 2
    return attention, local, global_


def test_multi_token_teacher_by_hand():
    loss = _loss(2, 2, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    parts = loss.terms(torch.tensor(S2), torch.tensor([T2]))
    t_align = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert torch.allclose(parts["t_align"][0], torch.tensor(t_align))
    attention, local, global_ = _hand_dcsd(S2, t_align, tau=2.0)
    assert torch.allclose(parts["attention"][0], torch.tensor(attention), atol=1e-6)
    # the same values worked on paper (4-5 digits): row 0 of A = [0.4048, 0.3497, 0.2455],
    # L_local = 8.72896 / 6 = 1.45483, L_global = (0.5 + 0.8333) / 2 = 0.66667
    assert attention[0] == pytest.approx([0.40481, 0.34966, 0.24553], abs=1e-4)
    assert local == pytest.approx(1.45483, abs=1e-4)
    assert global_ == pytest.approx(2.0 / 3.0)
    assert parts["local"].item() == pytest.approx(local, rel=1e-5)
    assert parts["global"].item() == pytest.approx(global_, rel=1e-5)
    total = loss(torch.tensor(S2), torch.tensor([T2])).item()
    assert total == pytest.approx(0.5 * local + 0.5 * global_, rel=1e-5)
    assert total == pytest.approx(1.06075, abs=1e-4)


def test_temperature_changes_attention_sharpness():
    # tau divides the logits: a smaller tau gives a sharper (less uniform) attention
    soft = _loss(2, 2, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], tau=2.0)
    sharp = _loss(2, 2, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], tau=0.5)
    a_soft = soft.terms(torch.tensor(S2), torch.tensor([T2]))["attention"]
    a_sharp = sharp.terms(torch.tensor(S2), torch.tensor([T2]))["attention"]
    assert a_sharp[0, 0, 0] > a_soft[0, 0, 0]
    assert _hand_dcsd(S2, [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], 0.5)[0][0][0] == pytest.approx(
        a_sharp[0, 0, 0].item(), rel=1e-5
    )


def test_batch_is_per_sample_and_mean_reduced():
    loss = _loss(2, 2, W1, B1)
    # sample 0 = case 1 (L = 1.25); sample 1: S = T_align exactly -> L = 0
    student = torch.tensor([S1, [[1.0, -1.0], [1.0, -1.0]]])
    teacher = torch.tensor([T1, T1])
    # MSE and L1 are means over all elements, batch included: (1.5 + 0) / 2, (1.0 + 0) / 2
    assert loss(student, teacher).item() == pytest.approx(0.5 * 0.75 + 0.5 * 0.5)


def test_gradients_reach_student_projection_and_weights():
    loss = _loss(2, 2, W1, B1)
    student = torch.tensor(S2, requires_grad=True)
    out = loss(student, torch.tensor([T1]))
    out.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert loss.teacher_proj.weight.grad is not None
    assert loss.weight_logits.grad is not None
    frozen = DCSDLoss(2, 2, learnable_weights=False)
    assert not frozen.weight_logits.requires_grad
    assert frozen.term_weights.tolist() == [0.5, 0.5]


def test_paper_dimensions_and_bad_shapes():
    loss = DCSDLoss()  # 256-d student, 1024-d teacher
    assert tuple(loss.teacher_proj.weight.shape) == (256, 1024)
    out = loss(torch.randn(1, 17, 256), torch.randn(1, 1024))
    assert out.dim() == 0 and torch.isfinite(out)
    with pytest.raises(ValueError, match="1024 features"):
        loss(torch.randn(1, 17, 256), torch.randn(1, 512))
    with pytest.raises(ValueError, match="tau"):
        DCSDLoss(tau=0.0)


def test_plain_ablation_builds_no_term_weights():
    # "+CLIP distillation" (Table V, No. 2 / 6): MSE(S, T_align) has no w1, w2; a parameter
    # left out of every step would need DDP's find_unused_parameters
    plain = DCSDLoss(2, 2, dual_constraint=False)
    assert plain.weight_logits is None
    assert {n for n, _ in plain.named_parameters()} == {"teacher_proj.weight", "teacher_proj.bias"}
    with pytest.raises(RuntimeError, match="no term weights"):
        _ = plain.term_weights
    out = plain(torch.randn(1, 3, 2), torch.randn(1, 2))
    out.backward()
    assert all(p.grad is not None for p in plain.parameters())
