"""OSNetTeacher: cropping, weight formats, the frozen contract, and real MSMT17 weights."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from assets_testing import require_asset

from mmdistillmot.models.teachers.base_teacher import TeacherNotReadyError
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

OSNET_WEIGHTS = ("weights", "osnet_x0_25_msmt17.pth")
MOT17_04 = ("mot17_mini", "train", "MOT17-04-FRCNN")


@pytest.fixture(scope="module")
def shared_tiny() -> OSNetTeacher:
    """One osnet_x0_25 with random weights and small crops, built (and warmed up) once."""
    torch.manual_seed(0)
    return OSNetTeacher(arch="osnet_x0_25", allow_random_init=True, crop_size=(64, 32))


@pytest.fixture()
def tiny(shared_tiny: OSNetTeacher):
    """Copies of the shared teacher with some options changed (weights identical)."""

    def make(**options) -> OSNetTeacher:
        teacher = copy.deepcopy(shared_tiny)
        for name, value in options.items():
            assert hasattr(teacher, name), name
            setattr(teacher, name, value)
        return teacher

    return make


def _frame(height: int = 60, width: int = 80, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


def test_unknown_arch_and_random_init_refused() -> None:
    with pytest.raises(ValueError, match="arch must be one of"):
        OSNetTeacher(arch="resnet50", allow_random_init=True)
    teacher = OSNetTeacher(arch="osnet_x0_25", crop_size=(64, 32))
    with pytest.raises(TeacherNotReadyError, match=r"OSNetTeacher\(osnet_x0_25\) has no weights"):
        teacher([_frame()], [torch.tensor([[0.0, 0.0, 10.0, 20.0]])])


def test_output_shapes_mixed_sizes_and_empty(tiny) -> None:
    teacher = tiny()
    frames = [_frame(60, 80), _frame(40, 50, seed=1), _frame(30, 30, seed=2)]
    boxes = [
        torch.tensor([[0.0, 0.0, 20.0, 40.0], [10.5, 5.0, 30.0, 50.0]]),
        torch.zeros(0, 4),
        torch.tensor([[2.0, 3.0, 12.0, 25.0]]),
    ]
    out = teacher(frames, boxes)
    assert [tuple(o.shape) for o in out] == [(2, 512), (0, 512), (1, 512)]
    assert all(o.dtype == torch.float32 for o in out)
    norms = torch.cat(out).norm(dim=1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    # a frame's embeddings do not depend on the other frames in the call (eval-mode BN)
    alone = teacher([frames[2]], [boxes[2]])[0]
    assert torch.allclose(alone, out[2], atol=1e-5)
    raw = tiny(normalize_embeddings=False)(frames[:1], boxes[:1])[0]
    assert torch.allclose(F.normalize(raw, dim=1), out[0], atol=1e-5)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(2))


def test_batch_tensor_equals_list(tiny) -> None:
    teacher = tiny()
    frames = torch.stack([_frame(seed=3), _frame(seed=4)])
    boxes = [torch.tensor([[5.0, 5.0, 25.0, 55.0]]), torch.tensor([[30.0, 2.0, 70.0, 58.0]])]
    from_tensor = teacher(frames, boxes)
    from_list = teacher(list(frames), boxes)
    for a, b in zip(from_tensor, from_list):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("crop_mode", ["roi_align", "resize"])
def test_crop_of_exact_size_box_is_the_pixels(tiny, crop_mode: str) -> None:
    """A box of exactly crop_size at integer coordinates crops to its pixels, untouched."""
    teacher = tiny(crop_mode=crop_mode)
    frame = _frame(100, 90).float()
    box = torch.tensor([[7.0, 11.0, 7.0 + 32, 11.0 + 64]])
    crop = teacher.crop(frame, box)
    assert crop.shape == (1, 3, 64, 32)
    assert torch.allclose(crop[0], frame[:, 11:75, 7:39], atol=1e-3)


def test_roi_align_crop_downscales_by_averaging(tiny) -> None:
    """A box twice the crop size over a pixel checkerboard averages each 2x2 cell (200 / 2)."""
    frame = torch.zeros(3, 8, 4)
    frame[:, 0::2, 0::2] = 200.0
    frame[:, 1::2, 1::2] = 200.0
    crop = tiny(crop_size=(4, 2)).crop(frame, torch.tensor([[0.0, 0.0, 4.0, 8.0]]))
    assert torch.allclose(crop, torch.full((1, 3, 4, 2), 100.0), atol=1e-3)


@pytest.mark.parametrize("crop_mode", ["roi_align", "resize"])
def test_crop_of_flat_region_is_flat(tiny, crop_mode: str) -> None:
    teacher = tiny(crop_mode=crop_mode)
    frame = torch.zeros(3, 50, 60)
    frame[:, 10:40, 20:45] = torch.tensor([10.0, 120.0, 250.0]).view(3, 1, 1)
    colour = torch.tensor([10.0, 120.0, 250.0]).view(1, 3, 1, 1).expand(1, 3, 64, 32)
    # a box well inside the flat region is flat after any bilinear resampling
    crop = teacher.crop(frame, torch.tensor([[22.5, 12.3, 30.1, 38.7]]))
    assert torch.allclose(crop, colour, atol=1e-3)
    # the whole region: 'resize' sees only the box's pixels; roi_align's upsampling samples
    # reach half a pixel past the box edge (documented), so only its interior is flat
    crop = teacher.crop(frame, torch.tensor([[20.0, 10.0, 45.0, 40.0]]))
    if crop_mode == "resize":
        assert torch.allclose(crop, colour, atol=1e-3)
    else:
        assert torch.allclose(crop[..., 2:-2, 2:-2], colour[..., 2:-2, 2:-2], atol=1e-3)
        assert not torch.allclose(crop, colour, atol=1e-3)


def test_boxes_outside_the_frame_are_clipped(tiny) -> None:
    teacher = tiny()
    frame = _frame(60, 80)
    outside = torch.tensor([[-15.0, -5.0, 30.0, 70.0]])
    inside = torch.tensor([[0.0, 0.0, 30.0, 60.0]])
    a = teacher([frame], [outside])[0]
    b = teacher([frame], [inside])[0]
    assert torch.allclose(a, b, atol=1e-6)


def test_channel_order(tiny) -> None:
    frame = _frame()
    boxes = [torch.tensor([[4.0, 4.0, 40.0, 56.0]])]
    bgr = tiny(channel_order="bgr")([frame], boxes)[0]
    rgb = tiny(channel_order="rgb")([frame.flip(0)], boxes)[0]
    assert torch.allclose(bgr, rgb, atol=1e-6)


def test_frozen_eval_no_grad(tiny) -> None:
    teacher = tiny()
    teacher.train()
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert all(not p.requires_grad for p in teacher.parameters())
    out = teacher([_frame()], [torch.tensor([[1.0, 1.0, 30.0, 50.0]])])[0]
    assert not out.requires_grad and out.grad_fn is None


def test_fingerprint_fields(tiny) -> None:
    fingerprint = tiny().fingerprint()
    assert fingerprint["name"] == "OSNetTeacher" and fingerprint["arch"] == "osnet_x0_25"
    assert fingerprint["input_size"] == [64, 32] and fingerprint["embed_dim"] == 512
    assert fingerprint["random_init"] is True and fingerprint["weights_sha256"] is None


# ---------------------------------------------------------------- real weights (assets)
def _mot17_04_frame(frame_id: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """BGR frame, xyxy boxes, identities and visibility of pedestrians (class 1, conf 1)."""
    import cv2

    seq = require_asset(*MOT17_04)
    gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
    rows = gt[(gt[:, 0] == frame_id) & (gt[:, 6] == 1) & (gt[:, 7] == 1)]
    image = cv2.imread(str(seq / "img1" / f"{frame_id:06d}.jpg"))  # BGR, as mmdet loads
    boxes = torch.tensor(rows[:, 2:6], dtype=torch.float32)
    boxes[:, 2:] += boxes[:, :2]
    boxes -= 1.0  # MOTChallenge boxes are 1-based
    return torch.from_numpy(image).permute(2, 0, 1), boxes, rows[:, 1].astype(int), rows[:, 8]


@pytest.mark.slow
@pytest.mark.assets
def test_real_msmt17_weights_separate_identities_across_frames() -> None:
    """SOURCES.md: same-identity cosine 0.92 vs 0.53, frame 1 -> 8 matching 21 of 21."""
    teacher = OSNetTeacher(arch="osnet_x0_25", weights=str(require_asset(*OSNET_WEIGHTS)))
    frame1, boxes1, ids1, vis1 = _mot17_04_frame(1)
    frame8, boxes8, ids8, vis8 = _mot17_04_frame(8)
    emb1, emb8 = teacher([frame1, frame8], [boxes1, boxes8])
    common = np.intersect1d(ids1, ids8)
    assert len(common) == 42
    rows1 = [int(np.flatnonzero(ids1 == i)[0]) for i in common]
    rows8 = [int(np.flatnonzero(ids8 == i)[0]) for i in common]
    sim = (emb1[rows1] @ emb8[rows8].T).numpy()
    same = float(np.diag(sim).mean())
    different = float(sim[~np.eye(len(common), dtype=bool)].mean())
    assert same > 0.88 and different < 0.6 and same - different > 0.3, (same, different)
    # nearest neighbour in frame 8 for every person of frame 1
    nearest = ids8[(emb1 @ emb8.T).argmax(1).numpy()]
    right = float(np.mean(nearest[rows1] == common))
    assert right >= 0.9, right
    # people at least 60 % visible in both frames: every one of them matched (21 of 21)
    visible = [k for k, i in enumerate(common) if vis1[rows1[k]] >= 0.6 and vis8[rows8[k]] >= 0.6]
    assert len(visible) == 21
    v1, v8 = [rows1[k] for k in visible], [rows8[k] for k in visible]
    assert np.array_equal(ids8[v8][(emb1[v1] @ emb8[v8].T).argmax(1).numpy()], common[visible])


@pytest.mark.assets
def test_real_weights_in_every_torchreid_format_give_same_outputs(tmp_path: Path) -> None:
    # small crops keep this fast; what is compared is the loaded weights, not Re-ID quality
    weights = require_asset(*OSNET_WEIGHTS)
    reference = OSNetTeacher(arch="osnet_x0_25", weights=str(weights), crop_size=(64, 32))
    frame, boxes, _, _ = _mot17_04_frame(1)
    expected = reference([frame], [boxes[:4]])[0]
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert state["classifier.weight"].shape[0] == 1041  # MSMT17 identities
    other_classifier = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    other_classifier["classifier.weight"] = torch.zeros(751, 512)  # e.g. Market-1501's
    other_classifier["classifier.bias"] = torch.zeros(751)
    formats = {
        "state_dict_key": {"state_dict": state, "epoch": 250, "rank1": 0.7},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
        "both": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
        "other_classifier": other_classifier,
    }
    running = [
        (name, buffer)
        for name, buffer in reference.model.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    ]
    assert len(running) > 100  # every BatchNorm of OSNet: its eval output depends on them
    for name, payload in formats.items():
        path = tmp_path / f"{name}.pth"
        torch.save(payload, path)
        # make sure every tensor comes from the new file: the parameters and the BatchNorm
        # running statistics (eval mode normalises with them) get values no file holds
        with torch.no_grad():
            for param in reference.model.parameters():
                param.zero_()
            for _, buffer in running:
                buffer.fill_(0.5)
        reference.load_weights(str(path))
        assert not any(bool((buffer == 0.5).all()) for _, buffer in running), name
        assert torch.equal(reference([frame], [boxes[:4]])[0], expected), name
    # the wrong architecture is refused with the file named
    with pytest.raises(RuntimeError, match="osnet_x0_25_msmt17.pth"):
        OSNetTeacher(arch="osnet_x0_5", weights=str(weights), crop_size=(64, 32))
