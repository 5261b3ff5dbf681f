"""VSDStudent: shapes, the residual path of equation 3, and the parameter budget of Table VIII."""

from __future__ import annotations

import pytest
import torch

from mmdistillmot.models.mot.vsd.vsd_student import VSDStudent


def test_shapes_any_number_of_queries():
    student = VSDStudent().eval()
    for n in (1, 10, 37):
        out = student(torch.randn(2, n, 256))
        assert out.shape == (2, n, 256)


def test_output_is_projection_plus_residual():
    student = VSDStudent().eval()
    x = torch.randn(1, 12, 256)
    with torch.no_grad():
        encoded = student.encoder(student.input_proj(x))
        expected = student.output_proj(encoded) + student.residual(x)
        assert torch.allclose(student(x), expected, atol=1e-6)
        # zero output projection: X_out is exactly the residual projection of X
        student.output_proj.weight.zero_()
        student.output_proj.bias.zero_()
        residual = x @ student.residual.weight.T + student.residual.bias
        assert torch.allclose(student(x), residual, atol=1e-5)
        # identity residual and zero output projection: X_out = X
        student.residual.weight.copy_(torch.eye(256))
        student.residual.bias.zero_()
        assert torch.allclose(student(x), x, atol=1e-6)


def test_queries_are_a_set():
    # no positional encoding: permuting the queries permutes the output (eval mode)
    student = VSDStudent().eval()
    x = torch.randn(1, 9, 256)
    perm = torch.randperm(9)
    with torch.no_grad():
        assert torch.allclose(student(x)[:, perm], student(x[:, perm]), atol=1e-5)


def test_parameter_count_matches_the_papers_budget():
    # Table VIII: 41.9 M -> 42.6 M parameters with the student, i.e. about 0.7 M.
    # Worked by hand for hidden 128, FFN 512, 3 layers, 256-d in/out:
    #   input Linear 256x128 + 128            =  32,896
    #   per layer: attention 4 x (128x128 + 128) = 66,048; FFN 128x512 + 512 + 512x128 + 128
    #              = 131,712; two LayerNorms 4 x 128 = 512  -> 198,272 x 3 = 594,816
    #   output Linear 128x256 + 256           =  33,024
    #   residual Linear 256x256 + 256         =  65,792
    expected = 32_896 + 3 * (66_048 + 131_712 + 512) + 33_024 + 65_792
    student = VSDStudent()
    assert sum(p.numel() for p in student.parameters()) == expected == 726_528
    assert round(expected / 1e6, 1) == pytest.approx(42.6 - 41.9)


def test_gradients_and_errors():
    student = VSDStudent(in_dim=32, out_dim=32, hidden_dim=16, num_heads=2, ffn_dim=32)
    x = torch.randn(1, 5, 32, requires_grad=True)
    student(x).sum().backward()
    assert all(p.grad is not None for p in student.parameters())
    with pytest.raises(ValueError, match=r"\[B, n, 32\]"):
        student(torch.randn(5, 32))
    with pytest.raises(ValueError, match="divisible"):
        VSDStudent(hidden_dim=100, num_heads=8)
