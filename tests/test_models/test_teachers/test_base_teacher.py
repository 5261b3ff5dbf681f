"""The teacher contract (BaseTeacher) and the shared weight loader, on a tiny network."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModule
from torch import nn

from mmdistillmot.compat import UnsafeCheckpointError
from mmdistillmot.models.teachers.base_teacher import (
    BaseTeacher,
    TeacherNotReadyError,
)
from mmdistillmot.models.teachers.weights import (
    TeacherWeightsError,
    file_sha256,
    unwrap_state_dict,
)


class TinyTeacher(BaseTeacher):
    """Mean-pooled 1x1 conv with BatchNorm: enough to see eval mode, grads and weights."""

    ignored_weight_keys = (r"^head\.",)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.arch = "tiny"
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.load_and_freeze()

    def extract(self, images):
        frames = torch.stack(self.image_list(images))
        return self.bn(self.conv(self.normalize(frames))).mean((2, 3))


class ForgetfulTeacher(BaseTeacher):
    def __init__(self) -> None:
        super().__init__(allow_random_init=True)

    def extract(self, images):
        return images


def _random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = TinyTeacher(allow_random_init=True)
    # give BN non-trivial statistics so eval vs train mode differ
    net.bn.running_mean.uniform_(-1, 1)
    net.bn.running_var.uniform_(0.5, 2)
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.fixture()
def weight_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = _random_state()
    path = tmp_path / "tiny.pth"
    torch.save(state, path)
    return path, state


def test_random_init_refused_without_flag() -> None:
    teacher = TinyTeacher()
    with pytest.raises(TeacherNotReadyError, match=r"TinyTeacher\(tiny\) has no weights"):
        teacher(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


def test_random_init_allowed_with_flag() -> None:
    out = TinyTeacher(allow_random_init=True)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    assert out.shape == (2, 4) and out.dtype == torch.float32


def test_subclass_must_finish_setup() -> None:
    with pytest.raises(TeacherNotReadyError, match="must end with self.load_and_freeze"):
        ForgetfulTeacher()(torch.zeros(1))


def test_frozen_eval_and_no_grad(weight_file) -> None:
    path, _ = weight_file
    teacher = TinyTeacher(weights=str(path))
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training and not teacher.bn.training
    parent = nn.ModuleDict(dict(teacher=teacher, student=nn.Linear(2, 2)))
    parent.train()
    assert parent["student"].training and not teacher.bn.training
    # a submodule switched directly is put back to eval at the next call
    teacher.bn.train()
    images = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    out = teacher(images)
    assert not teacher.bn.training
    assert not out.requires_grad and out.grad_fn is None
    # BN with running statistics in eval mode: a single image gives the same output alone
    assert torch.allclose(teacher(images[:1]), out[:1], atol=1e-6)


def test_weights_loaded_and_fingerprinted(weight_file) -> None:
    path, state = weight_file
    teacher = TinyTeacher(weights=str(path))
    for key, value in state.items():
        assert torch.equal(teacher.state_dict()[key], value)
    fingerprint = teacher.fingerprint()
    assert fingerprint["weights_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fingerprint["name"] == "TinyTeacher" and fingerprint["arch"] == "tiny"
    assert fingerprint["random_init"] is False
    # normalisation buffers are configuration, not weights
    assert "pixel_mean" not in teacher.state_dict()


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module_prefix", "nested"])
def test_weight_formats_give_same_outputs(tmp_path: Path, weight_file, wrap: str) -> None:
    path, state = weight_file
    images = torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8)
    reference = TinyTeacher(weights=str(path))(images)
    prefixed = {f"module.{k}": v for k, v in state.items()}
    head = {"head.weight": torch.zeros(7, 4)}  # a classifier of any size is ignored
    payload = {
        "plain": state,
        "state_dict": {"state_dict": {**state, **head}, "epoch": 3},
        "model": {"model": prefixed},
        "module_prefix": prefixed,
        "nested": {"state_dict": {"module": prefixed}},
    }[wrap]
    other = tmp_path / f"{wrap}.pth"
    torch.save(payload, other)
    assert torch.equal(TinyTeacher(weights=str(other))(images), reference)


def test_missing_keys_fail_naming_file_and_keys(tmp_path: Path, weight_file) -> None:
    _, state = weight_file
    partial = {k: v for k, v in state.items() if not k.startswith("bn.")}
    path = tmp_path / "partial.pth"
    torch.save(partial, path)
    with pytest.raises(TeacherWeightsError, match=r"partial\.pth' lacks .*'bn\.bias'"):
        TinyTeacher(weights=str(path))


def test_wrong_shape_fails(tmp_path: Path, weight_file) -> None:
    _, state = weight_file
    state = dict(state, **{"conv.weight": torch.zeros(5, 3, 1, 1)})
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(TeacherWeightsError, match=r"conv\.weight: file \(5, 3, 1, 1\)"):
        TinyTeacher(weights=str(path))


def test_missing_file_and_unsafe_pickle(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        TinyTeacher(weights=str(tmp_path / "nope.pth"))
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": Path("x")}, evil)
    with pytest.raises(UnsafeCheckpointError, match="evil.pth"):
        TinyTeacher(weights=str(evil))


def test_init_weights_restores_file_weights(weight_file) -> None:
    path, state = weight_file
    teacher = TinyTeacher(weights=str(path))
    nn.init.zeros_(teacher.conv.weight)  # what a parent's init_cfg may do to every Conv2d
    teacher.init_weights()
    assert torch.equal(teacher.conv.weight, state["conv.weight"])
    assert not teacher.conv.weight.requires_grad


def test_parent_init_cfg_does_not_overwrite_teacher_weights(weight_file) -> None:
    """mmengine applies a parent's init_cfg to every submodule, then the children's init."""
    path, state = weight_file

    class Parent(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Constant", layer="Conv2d", val=0.0, bias=0.0))
            self.student = nn.Conv2d(3, 4, 1)
            self.teacher = TinyTeacher(weights=str(path))

    parent = Parent()
    parent.init_weights()
    assert not parent.student.weight.any()  # the initialiser did run
    assert torch.equal(parent.teacher.conv.weight, state["conv.weight"])


def test_channel_order_and_normalisation() -> None:
    bgr = TinyTeacher(allow_random_init=True, channel_order="bgr")
    rgb = TinyTeacher(allow_random_init=True, channel_order="rgb")
    rgb.load_state_dict(bgr.state_dict())
    images = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    assert torch.allclose(bgr(images), rgb(images.flip(1)), atol=1e-6)
    # a pixel equal to the mean normalises to zero
    mean_pixel = torch.tensor([103.53, 116.28, 123.675]).view(1, 3, 1, 1)  # BGR of the mean
    assert torch.allclose(bgr.normalize(mean_pixel), torch.zeros(1, 3, 1, 1), atol=1e-5)


def test_precision_resolution() -> None:
    cpu = torch.device("cpu")
    assert TinyTeacher(allow_random_init=True).autocast_dtype(cpu) is None
    bf16 = TinyTeacher(allow_random_init=True, precision="bf16")
    assert bf16.autocast_dtype(cpu) is torch.bfloat16
    out = bf16(torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8))
    assert out.dtype == torch.float32  # outputs always come back as float32
    with pytest.raises(ValueError, match="precision"):
        TinyTeacher(allow_random_init=True, precision="fp8")


def test_sha256_and_unwrap_helpers(tmp_path: Path) -> None:
    path = tmp_path / "bytes.bin"
    path.write_bytes(b"abc")
    # the sha256 of "abc" from FIPS 180-2, appendix B.1
    assert file_sha256(str(path)) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    with pytest.raises(TeacherWeightsError, match="no tensors"):
        unwrap_state_dict({"epoch": 1}, source="x.pth")
