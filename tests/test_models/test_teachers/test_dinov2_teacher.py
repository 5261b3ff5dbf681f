"""DINOv2Teacher: patch maps, weight formats (timm and the original release), frozen eval."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import mmdistillmot  # noqa: F401
from mmdistillmot.models.teachers import TeacherNotReadyError, TeacherWeightsError
from mmdistillmot.models.teachers.dinov2_teacher import DINOv2Teacher, convert_dinov2_state_dict

# Giant's layout (SwiGLU MLP) and small's layout (GELU MLP), shrunk: 2 blocks of width 48, a
# 4x4 position grid (56 px), so a 56x56 input needs no position-embedding resampling.
TINY = dict(depth=2, embed_dim=48, num_heads=2, img_size=56)


def _teacher(arch: str = "giant", **kw) -> DINOv2Teacher:
    kw.setdefault("allow_random_init", True)
    return DINOv2Teacher(arch=arch, model_kwargs=TINY, **kw)


def _random_timm_state(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    teacher = _teacher(arch)
    state = {k: v.clone() for k, v in teacher.model.state_dict().items()}
    # LayerScale starts at 1e-5, which would hide the blocks; make every block count
    for key in state:
        if key.endswith(".gamma"):
            state[key] = torch.rand_like(state[key]) + 0.5
    return state


def _to_original_release(state: dict[str, torch.Tensor], chunked: bool) -> dict[str, torch.Tensor]:
    """timm names -> facebookresearch/dinov2 names (written independently of the converter)."""
    out = {"mask_token": torch.randn(1, state["cls_token"].shape[-1])}
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    swiglu = "blocks.0.mlp.fc1.weight" in state and (
        state["blocks.0.mlp.fc1.weight"].shape[0] == 2 * state["blocks.0.mlp.fc2.weight"].shape[1]
    )
    for key, value in state.items():
        if swiglu:
            key = key.replace(".mlp.fc1.", ".mlp.w12.").replace(".mlp.fc2.", ".mlp.w3.")
        if chunked and key.startswith("blocks."):
            # BlockChunk layout with 2 chunks: blocks.<chunk>.<global index>.*
            index = int(key.split(".")[1])
            key = f"blocks.{index * 2 // depth}." + key[len("blocks.") :]
        out[key] = value
    return out


def _reference_dinov2(sd: dict[str, torch.Tensor], x: torch.Tensor, heads: int) -> torch.Tensor:
    """DINOv2's forward from the original-format weights, in plain torch ([B, N, C] patches)."""
    w = sd["patch_embed.proj.weight"]
    tokens = F.conv2d(x, w, sd["patch_embed.proj.bias"], stride=w.shape[-1])
    tokens = tokens.flatten(2).transpose(1, 2)
    tokens = torch.cat([sd["cls_token"].expand(x.shape[0], -1, -1), tokens], 1) + sd["pos_embed"]
    dim = tokens.shape[-1]
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))})
    for i in blocks:
        p = f"blocks.{i}."
        h = F.layer_norm(tokens, (dim,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        q, k, v = qkv.reshape(*h.shape[:2], 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(dim // heads)).softmax(-1)
        out = (attn @ v).transpose(1, 2).reshape(h.shape)
        out = F.linear(out, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        tokens = tokens + sd[p + "ls1.gamma"] * out
        h = F.layer_norm(tokens, (dim,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        if p + "mlp.w12.weight" in sd:  # SwiGLU: silu(x1) * x2
            x1, x2 = F.linear(h, sd[p + "mlp.w12.weight"], sd[p + "mlp.w12.bias"]).chunk(2, -1)
            out = F.linear(F.silu(x1) * x2, sd[p + "mlp.w3.weight"], sd[p + "mlp.w3.bias"])
        else:
            out = F.gelu(F.linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"]))
            out = F.linear(out, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        tokens = tokens + sd[p + "ls2.gamma"] * out
    tokens = F.layer_norm(tokens, (dim,), sd["norm.weight"], sd["norm.bias"], eps=1e-6)
    return tokens[:, 1:]


def _frames(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("arch", ["giant", "small"])
def test_both_formats_load_and_match_the_reference_forward(tmp_path: Path, arch: str) -> None:
    state = _random_timm_state(arch)
    timm_file = tmp_path / "timm.pth"
    torch.save(state, timm_file)
    original = _to_original_release(state, chunked=(arch == "giant"))
    assert any(".mlp.w12." in k for k in original) == (arch == "giant")
    original_file = tmp_path / "dinov2_pretrain.pth"
    torch.save(original, original_file)

    frames = _frames(2, 56, 56)
    from_timm = _teacher(arch, weights=str(timm_file), allow_random_init=False)(frames)
    from_original = _teacher(arch, weights=str(original_file), allow_random_init=False)(frames)
    assert from_timm.shape == (2, 48, 4, 4)
    assert torch.equal(from_timm, from_original)

    # independent check: DINOv2's computation written out on the original names
    flat = _to_original_release(state, chunked=False)
    rgb = frames.flip(1).float()  # teacher default channel_order='bgr'
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    expected = _reference_dinov2(flat, (rgb - mean) / std, heads=2)
    expected = expected.transpose(1, 2).reshape(2, 48, 4, 4)
    assert torch.allclose(from_original, expected, atol=1e-4)


def test_converter_handles_registers_and_training_checkpoints() -> None:
    pos = torch.randn(1, 1 + 16, 8)
    cls = torch.randn(1, 1, 8)
    regs = torch.randn(1, 4, 8)
    converted = convert_dinov2_state_dict(
        {
            "backbone.cls_token": cls,
            "backbone.pos_embed": pos,
            "backbone.register_tokens": regs,
            "backbone.mask_token": torch.zeros(1, 8),
            "backbone.blocks.1.3.mlp.w12.weight": torch.zeros(2),
            "dino_head.mlp.0.weight": torch.zeros(2),
        }
    )
    assert set(converted) == {"cls_token", "pos_embed", "reg_token", "blocks.3.mlp.fc1.weight"}
    assert torch.equal(converted["cls_token"], cls + pos[:, :1])
    assert torch.equal(converted["pos_embed"], pos[:, 1:])
    assert torch.equal(converted["reg_token"], regs)


def test_patch_map_shape_and_input_size_rule() -> None:
    teacher = _teacher("small")
    # 64 x 96 -> nearest multiples of 14: 70 x 98 -> a 5 x 7 grid
    assert teacher.teacher_input_size(64, 96) == (70, 98)
    assert teacher(_frames(2, 64, 96)).shape == (2, 48, 5, 7)
    # FairMOT's input: 608 x 1088 -> 602 x 1092 (43 x 78 patches)
    assert teacher.teacher_input_size(608, 1088) == (602, 1092)
    fixed = _teacher("small", input_size=(28, 42))
    assert fixed(_frames(1, 64, 96)).shape == (1, 48, 2, 3)
    with pytest.raises(ValueError, match="multiples of the patch size 14"):
        _teacher("small", input_size=(30, 42))


def test_channel_order_is_honoured() -> None:
    state = _random_timm_state("small")
    bgr_teacher = _teacher("small", channel_order="bgr")
    rgb_teacher = _teacher("small", channel_order="rgb")
    bgr_teacher.model.load_state_dict(state)
    rgb_teacher.model.load_state_dict(state)
    frames = _frames(1, 56, 56)
    assert torch.allclose(bgr_teacher(frames), rgb_teacher(frames.flip(1)), atol=1e-6)
    assert not torch.allclose(bgr_teacher(frames), rgb_teacher(frames), atol=1e-3)


def test_random_weights_refused_without_flag() -> None:
    teacher = _teacher("small", allow_random_init=False)
    with pytest.raises(
        TeacherNotReadyError, match=r"DINOv2Teacher\(vit_small_patch14_dinov2\) has no"
    ):
        teacher(_frames(1, 56, 56))


def test_wrong_architecture_file_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "small.pth"
    torch.save(_random_timm_state("small"), path)
    with pytest.raises(TeacherWeightsError, match="small.pth"):
        _teacher("giant", weights=str(path), allow_random_init=False)


def test_frozen_eval_no_grad_and_half_precision() -> None:
    teacher = _teacher("small")
    teacher.train()
    assert not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    frames = _frames(2, 56, 56)
    full = teacher(frames)
    assert full.grad_fn is None and full.dtype == torch.float32
    teacher.precision = "bf16"  # autocast on CPU; output cast back to float32
    half = teacher(frames)
    assert half.dtype == torch.float32
    assert F.cosine_similarity(half.flatten(1), full.flatten(1)).min() > 0.99


def test_full_size_arch_names_and_channels() -> None:
    teacher = DINOv2Teacher(arch="vit_small_patch14_dinov2", allow_random_init=True)
    assert teacher.out_channels == 384 and teacher.patch_size == 14
    assert teacher(_frames(1, 28, 28)).shape == (1, 384, 2, 2)
    with pytest.raises(ValueError, match="unknown arch 'huge'"):
        DINOv2Teacher(arch="huge", allow_random_init=True)
    with pytest.raises(ValueError, match="cannot go in model_kwargs"):
        DINOv2Teacher(arch="small", allow_random_init=True, model_kwargs=dict(pretrained=True))
