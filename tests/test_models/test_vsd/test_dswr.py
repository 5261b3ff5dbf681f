"""DSWR: the quality score falls with blur, noise and low contrast; the semantic weight rises."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mmdistillmot.models.mot.vsd.dswr import DSWR


def textured_frame(height: int = 360, width: int = 640, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 frame with smooth texture and sharp-edged blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    gray = 120 + 45 * np.sin(x / 9.0 + 0.3 * np.sin(y / 23.0)) * np.cos(y / 13.0)
    for _ in range(60):
        x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 80)
        bw, bh = rng.integers(8, 40), rng.integers(20, 80)
        gray[y0 : y0 + bh, x0 : x0 + bw] = rng.uniform(10, 245)
    gray = cv2.GaussianBlur(gray, (0, 0), 0.7)
    bgr = np.stack([gray, np.roll(gray, 3, axis=1) * 0.9 + 10, 255 - gray * 0.8], axis=-1)
    return np.clip(bgr, 0, 255).astype(np.uint8)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def add_noise(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def reduce_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    mean = img.astype(np.float64).mean()
    return np.clip((img.astype(np.float64) - mean) * factor + mean, 0, 255).astype(np.uint8)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


@pytest.fixture(scope="module")
def dswr_bgr() -> DSWR:
    return DSWR(channel_order="bgr")


def quality(dswr: DSWR, img: np.ndarray) -> float:
    value = dswr.frame_quality(to_tensor(img))
    assert value.shape == (1,)
    return float(value)


def _check_degradations_lower_quality(dswr: DSWR, img: np.ndarray) -> None:
    clean = quality(dswr, img)
    assert 0.0 <= clean <= 1.0
    ladders = {
        "blur": [quality(dswr, blur(img, s)) for s in (1.0, 2.0, 4.0)],
        "noise": [quality(dswr, add_noise(img, s)) for s in (3.0, 8.0, 20.0)],
        "contrast": [quality(dswr, reduce_contrast(img, f)) for f in (0.5, 0.25, 0.1)],
    }
    for name, values in ladders.items():
        # strictly decreasing: clean > mild > strong > severe
        chain = [clean, *values]
        assert all(a > b for a, b in zip(chain, chain[1:])), (name, chain)
        assert all(0.0 <= v <= 1.0 for v in values)


def test_quality_falls_with_blur_noise_and_low_contrast_synthetic(dswr_bgr):
    _check_degradations_lower_quality(dswr_bgr, textured_frame())


@pytest.mark.assets
@pytest.mark.parametrize("sequence", ["MOT17-02-FRCNN", "MOT17-05-FRCNN"])
def test_quality_falls_with_blur_noise_and_low_contrast_mot17(dswr_bgr, assets_root, sequence):
    path = Path(assets_root) / "mot17_mini" / "train" / sequence / "img1" / "000001.jpg"
    img = cv2.imread(str(path))
    assert img is not None, path
    _check_degradations_lower_quality(dswr_bgr, img)


@pytest.mark.assets
def test_quality_hardly_depends_on_the_training_scale(dswr_bgr, assets_root):
    # MOTRv2 trains at a random short side 608..992 and tests at 800: Q is measured at a fixed
    # analysis size, so one frame at these scales gets nearly the same score.
    path = Path(assets_root) / "mot17_mini" / "train" / "MOT17-02-FRCNN" / "img1" / "000001.jpg"
    img = cv2.imread(str(path))
    scores = []
    for short in (608, 800, 992):
        scale = short / img.shape[0]
        size = (round(img.shape[1] * scale), short)
        scores.append(quality(dswr_bgr, cv2.resize(img, size, interpolation=cv2.INTER_AREA)))
    assert max(scores) - min(scores) < 0.05, scores


def test_channel_order_is_respected():
    img = textured_frame()
    q_bgr = DSWR(channel_order="bgr").frame_quality(to_tensor(img))
    q_rgb = DSWR(channel_order="rgb").frame_quality(to_tensor(img[..., ::-1]))
    assert torch.allclose(q_bgr, q_rgb)
    # the wrong order weights the channels differently and changes the grey image
    q_wrong = DSWR(channel_order="rgb").frame_quality(to_tensor(img))
    assert not torch.allclose(q_bgr, q_wrong)


def test_measurements_match_their_definitions():
    # A flat grey frame plus white noise of std 10: Immerkaer's MAD estimate recovers ~10, the
    # noise-corrected Laplacian variance is ~0, the std is ~10.
    rng = np.random.default_rng(3)
    flat = np.full((200, 300, 3), 128.0) + rng.normal(0, 10, (200, 300, 1))
    dswr = DSWR(analysis_short_side=None)
    m = dswr.measurements(torch.from_numpy(flat).permute(2, 0, 1)[None].float())
    assert m["noise_sigma"].item() == pytest.approx(10.0, rel=0.05)
    assert m["contrast"].item() == pytest.approx(10.0, rel=0.05)
    # raw Laplacian variance of white noise is 20 sigma^2 = 2000; corrected, it is ~0
    assert m["laplacian_var"].item() < 0.05 * 2000


def test_semantic_weight_rises_as_quality_falls(dswr_bgr):
    img = textured_frame()
    frames = [img, blur(img, 2.0), add_noise(img, 20.0), reduce_contrast(img, 0.1)]
    batch = torch.cat([to_tensor(f) for f in frames])
    q = dswr_bgr.frame_quality(batch)
    w = dswr_bgr.semantic_weight(q)
    order = torch.argsort(q)  # poorest first
    assert torch.all(w[order][:-1] > w[order][1:])  # poorest frame gets the highest weight
    # initialisation W = -4, b = 2: w(Q) = sigmoid(2 - 4 Q)
    for qi, wi in zip(q.tolist(), w.tolist()):
        assert wi == pytest.approx(1.0 / (1.0 + math.exp(-(2.0 - 4.0 * qi))), rel=1e-5)
    assert dswr_bgr.semantic_weight(torch.tensor([0.5])).item() == pytest.approx(0.5)


def test_fusion_is_equation_14_and_trains_w_and_b(dswr_bgr):
    semantic = torch.randn(2, 5, 8, requires_grad=True)
    query = torch.randn(2, 5, 8)
    frames = torch.cat([to_tensor(textured_frame()), to_tensor(blur(textured_frame(), 3.0))])
    fused = dswr_bgr(semantic, query, frames)
    w = dswr_bgr.semantic_weight(dswr_bgr.frame_quality(frames)).detach()
    expected = w.view(2, 1, 1) * semantic + (1 - w.view(2, 1, 1)) * query
    assert torch.allclose(fused, expected)
    fused.sum().backward()
    assert dswr_bgr.weight_raw.grad is not None and dswr_bgr.bias.grad is not None
    assert semantic.grad is not None
    with pytest.raises(ValueError, match="differ"):
        dswr_bgr.fuse(semantic, query[:, :3], w)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="channel_order"):
        DSWR(channel_order="yuv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metric_weights"):
        DSWR(metric_weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        DSWR().frame_quality(torch.zeros(1, 1, 32, 32))


def test_w_starts_at_minus_4_and_stays_negative_by_default():
    dswr = DSWR()
    assert dswr.weight_param == "negative"
    assert dswr.slope().item() == -4.0  # -softplus(log(e^4 - 1)), exact in float32
    assert dict(dswr.named_parameters()).keys() == {"weight_raw", "bias"}
    # push W up hard (the loss rewards a positive W): it approaches 0 but never crosses it
    optim = torch.optim.SGD(dswr.parameters(), lr=10.0)
    for _ in range(50):
        optim.zero_grad()
        (-dswr.slope()).backward()  # gradient ascent on W
        optim.step()
    assert -4.0 < dswr.slope().item() < 0.0
    q = torch.tensor([0.1, 0.9])
    w = dswr.semantic_weight(q)
    assert w[0] > w[1]  # still "lower quality, higher semantic weight"


def test_free_w_is_the_papers_equation_and_may_change_sign():
    dswr = DSWR(weight_param="free")
    assert dict(dswr.named_parameters()).keys() == {"weight", "bias"}
    assert dswr.slope() is dswr.weight and dswr.weight.item() == -4.0
    optim = torch.optim.SGD(dswr.parameters(), lr=10.0)
    for _ in range(5):
        optim.zero_grad()
        (-dswr.slope()).backward()
        optim.step()
    assert dswr.slope().item() > 0.0
    with pytest.raises(ValueError, match="init_weight < 0"):
        DSWR(init_weight=1.0)
    with pytest.raises(ValueError, match="weight_param"):
        DSWR(weight_param="positive")  # type: ignore[arg-type]


def test_forward_gives_the_details_the_refiner_logs(dswr_bgr):
    semantic, query = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    frames = torch.cat([to_tensor(textured_frame()), to_tensor(blur(textured_frame(), 3.0))])
    fused, details = dswr_bgr(semantic, query, frames, return_details=True)
    torch.testing.assert_close(fused, dswr_bgr(semantic, query, frames))
    torch.testing.assert_close(details["quality"], dswr_bgr.frame_quality(frames))
    torch.testing.assert_close(details["weight"], dswr_bgr.semantic_weight(details["quality"]))
    assert details["slope"].item() == -4.0
