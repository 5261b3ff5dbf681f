"""CLIPTeacher: local weights in two formats, frozen eval, its own preprocessing of raw frames.

A tiny ModifiedResNet (the RN50 code path with 1 block per stage, width 8, 64 px input) keeps
these tests fast; the real RN50-quickgelu architecture is checked in one slow test.
"""

from __future__ import annotations

import json

import open_clip
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from mmdistillmot.models.teachers.base_teacher import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TeacherNotReadyError,
)
from mmdistillmot.models.teachers.clip_teacher import CLIPTeacher
from mmdistillmot.models.teachers.weights import TeacherWeightsError

TINY_VISION = dict(layers=[1, 1, 1, 1], width=8, image_size=64, head_width=32)
TINY_CFG = dict(embed_dim=48, vision_cfg=TINY_VISION)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def tiny_teacher(**kwargs) -> CLIPTeacher:
    kwargs.setdefault("allow_random_init", True)
    kwargs.setdefault("precision", "fp32")
    teacher = CLIPTeacher(arch="RN50-quickgelu", model_cfg=TINY_CFG, **kwargs)
    if not teacher.weights_loaded:
        # CLIP zero-initialises the last BN of every residual block; wake those branches up so
        # that the random network's output depends on the input's details
        with torch.no_grad():
            for module in teacher.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.fill_(1.0)
    return teacher


@pytest.fixture(scope="module")
def teacher() -> CLIPTeacher:
    torch.manual_seed(0)
    return tiny_teacher(channel_order="bgr")


@pytest.fixture(scope="module")
def frames_bgr() -> torch.Tensor:
    # two raw uint8 frames, 96 x 144 (3:2), BGR: a bright blue, a random green, a dark red plane
    gen = torch.Generator().manual_seed(1)
    frames = torch.randint(0, 256, (2, 3, 96, 144), generator=gen)
    frames[:, 0] = 180 + frames[:, 0] // 4
    frames[:, 2] = frames[:, 2] // 4
    return frames.to(torch.uint8)


def test_random_weights_are_refused_without_the_flag(frames_bgr):
    refusing = CLIPTeacher(arch="RN50-quickgelu", model_cfg=TINY_CFG)
    with pytest.raises(TeacherNotReadyError, match="no weights"):
        refusing(frames_bgr)
    assert tiny_teacher()(frames_bgr).shape == (2, 48)


def test_frozen_and_always_in_eval(teacher, frames_bgr):
    teacher.train()
    assert not any(m.training for m in teacher.modules())
    assert not any(p.requires_grad for p in teacher.parameters())
    frames = frames_bgr.float().requires_grad_(True)
    out = teacher(frames)
    assert not out.requires_grad and out.dtype == torch.float32
    assert out.shape == (2, teacher.out_channels) == (2, 48)


def test_channel_order_of_the_raw_frame(teacher, frames_bgr):
    torch.manual_seed(0)
    as_rgb = tiny_teacher(channel_order="rgb")
    as_rgb.load_state_dict(teacher.state_dict())
    same = as_rgb(frames_bgr.flip(1))  # the same frames given in RGB
    assert torch.allclose(teacher(frames_bgr), same, atol=1e-5)
    assert not torch.allclose(teacher(frames_bgr), as_rgb(frames_bgr), atol=1e-3)


def test_preprocessing_is_clips_resize_and_center_crop(teacher, frames_bgr):
    # Reference: torchvision's Resize(short side 64, bicubic, antialias) + CenterCrop(64),
    # /255 and the OpenAI mean/std (the recipe of CLIP's own preprocess), on RGB.
    rgb = frames_bgr.flip(1).float()
    ref = TF.resize(rgb, [64], interpolation=InterpolationMode.BICUBIC, antialias=True)
    ref = TF.center_crop(ref, [64, 64]).clamp(0, 255) / 255.0
    ref = (ref - torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)) / torch.tensor(OPENAI_STD).view(
        1, 3, 1, 1
    )
    ours = teacher.preprocess(frames_bgr)
    assert ours.shape == ref.shape == (2, 3, 64, 64)
    # crop-then-resize equals resize-then-crop away from the crop's edges (where the resize
    # kernel of the reference also sees pixels outside the crop)
    assert torch.allclose(ours[..., 3:-3, 3:-3], ref[..., 3:-3, 3:-3], atol=1e-4)
    assert (ours - ref).abs().mean() < 0.02
    # and the teacher's output is the image tower on exactly this input
    with torch.no_grad():
        assert torch.allclose(teacher(frames_bgr), teacher.visual(ours), atol=1e-5)


def test_consumes_raw_frames_not_the_students_normalised_tensor(teacher, frames_bgr):
    # CLIP's input is made from 0-255 frames: every channel of the raw frames keeps its spread
    raw_in = teacher.preprocess(frames_bgr)
    assert raw_in.std(dim=(2, 3)).min() > 0.1
    # The student's normalised tensor (ImageNet mean/std, RGB) is not a valid input: read as a
    # raw frame, it is ~0 grey levels and collapses to CLIP's constant -mean/std ...
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (frames_bgr.flip(1).float() - mean) / std
    collapsed = teacher.preprocess(normalised.flip(1))
    assert collapsed.std(dim=(2, 3)).max() < 0.05
    floor = -torch.tensor(OPENAI_MEAN) / torch.tensor(OPENAI_STD)
    assert torch.allclose(collapsed.mean(dim=(0, 2, 3)), floor, atol=0.05)
    # ... and the authors' x255 -> uint8 cast (negative values wrap around) is another image
    wrapped = (normalised * 255).to(torch.int64).remainder(256).to(torch.uint8)
    assert (teacher.preprocess(wrapped.flip(1)) - raw_in).abs().mean() > 0.5


def test_resize_mode_sees_the_whole_frame(frames_bgr):
    torch.manual_seed(0)
    crop, squash = tiny_teacher(), tiny_teacher(resize_mode="resize")
    edited = frames_bgr.clone()
    edited[:, :, :, :10] = 255  # the left margin, outside the central crop
    assert torch.allclose(crop(edited), crop(frames_bgr))
    assert not torch.allclose(squash(edited), squash(frames_bgr))
    with pytest.raises(ValueError, match="resize_mode"):
        tiny_teacher(resize_mode="pad")


def _tiny_open_clip_model(tmp_path) -> str:
    """Register the tiny architecture with open_clip (whole CLIP: image and text towers)."""
    name = "mmdistillmot-tiny-rn"
    cfg = dict(
        embed_dim=48,
        quick_gelu=True,
        vision_cfg=TINY_VISION,
        text_cfg=dict(context_length=8, vocab_size=64, width=16, heads=2, layers=1),
    )
    (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(tmp_path / f"{name}.json")
    return name


def test_both_weight_formats_load_to_the_same_output(tmp_path, teacher, frames_bgr):
    name = _tiny_open_clip_model(tmp_path)
    clip = open_clip.create_model(name, pretrained=None)
    clip.visual.load_state_dict(teacher.visual.state_dict())
    # (a) open_clip's checkpoint format: the whole model, as its training script saves it
    full = tmp_path / "open_clip_checkpoint.pt"
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in clip.state_dict().items()}},
        full,
    )
    # (b) a plain state dict of the image tower
    plain = tmp_path / "visual_state_dict.pth"
    torch.save(teacher.visual.state_dict(), plain)

    expected = teacher(frames_bgr)
    from_full = tiny_teacher(weights=str(full), allow_random_init=False)
    from_plain = tiny_teacher(weights=str(plain), allow_random_init=False)
    assert from_full.weights_loaded and from_plain.weights_loaded
    assert torch.allclose(from_full(frames_bgr), expected, atol=1e-6)
    assert torch.allclose(from_plain(frames_bgr), expected, atol=1e-6)
    assert from_full.fingerprint()["weights_sha256"] != from_plain.fingerprint()["weights_sha256"]

    # open_clip itself reads file (a) with `pretrained=PATH` and gives the same image features
    reference = open_clip.create_model(name, pretrained=str(full)).eval()
    with torch.no_grad():
        ref_out = reference.encode_image(teacher.preprocess(frames_bgr))
    assert torch.allclose(ref_out, expected, atol=1e-5)


def test_bad_weight_files_fail_clearly(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"visual.conv1.weight": torch.zeros(1, 3, 3, 3)}, wrong)
    with pytest.raises(TeacherWeightsError, match="lacks"):
        tiny_teacher(weights=str(wrong))
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="safetensors"):
        tiny_teacher(weights=str(fake))
    with pytest.raises(FileNotFoundError):
        tiny_teacher(weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="schema"):
        CLIPTeacher(arch="hf-hub:timm/resnet50_clip.openai", allow_random_init=True)


def test_paper_architectures_are_1024_d():
    # ViT-H-14's config (not built: 630 M parameters)
    assert open_clip.get_model_config("ViT-H-14")["embed_dim"] == 1024
    assert open_clip.get_model_config("RN50-quickgelu")["embed_dim"] == 1024


@pytest.mark.slow
def test_rn50_quickgelu_gives_1024_d_features():
    teacher = CLIPTeacher(arch="RN50-quickgelu", allow_random_init=True, precision="fp32")
    assert teacher.input_size == (224, 224)
    frame = torch.randint(0, 256, (1, 3, 108, 192), dtype=torch.uint8)
    assert teacher(frame).shape == (1, 1024)
    assert teacher.fingerprint()["out_channels"] == 1024
