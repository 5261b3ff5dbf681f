"""``RealESRGANDegradation``: identity at severity 0, seeding, consistency modes, metainfo."""

import json

import cv2
import numpy as np
import pytest
from mmcv.transforms import TransformBroadcaster
from mmdet.registry import TRANSFORMS
from mmengine.registry import init_default_scope

from mmdistillmot.datasets.transforms.degradation import (
    DegradationParams,
    RealESRGANDegradation,
    apply_degradation,
)
from mmdistillmot.datasets.transforms.degradation.real_esrgan_degradation import (
    frame_name,
    sequence_name,
)


def frame(seed: int = 0, height: int = 64, width: int = 96) -> np.ndarray:
    """A small textured BGR frame, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)), (0, 0), 2.0)
    field = 128 + 50 * field / field.std() + rng.normal(0, 6, (height, width, 3))
    return np.clip(field, 0, 255).astype(np.uint8)


def sample(seq: str = "MOT17-02-FRCNN", index: int = 1, img: np.ndarray | None = None) -> dict:
    return {
        "img": frame(index) if img is None else img,
        "img_path": f"data/MOT17/train/{seq}/img1/{index:06d}.jpg",
        "gt_bboxes": np.array([[10.0, 12.0, 40.0, 50.0]], dtype=np.float32),
    }


def params_of(record: dict) -> DegradationParams:
    """The parameter set inside a ``degradation_params`` record (without the seeding keys)."""
    extra = ("noise_seed", "seed", "consistency", "sequence", "frame")
    return DegradationParams.from_dict({k: v for k, v in record.items() if k not in extra})


def laplacian_variance(img: np.ndarray) -> float:
    return float(cv2.Laplacian(img.astype(np.float64).mean(axis=2), cv2.CV_64F).var())


@pytest.mark.parametrize("consistency", ["per_frame", "per_sequence"])
@pytest.mark.parametrize("seed", [None, 3])
def test_severity_zero_is_the_identity(consistency, seed):
    transform = RealESRGANDegradation(severity=0.0, consistency=consistency, seed=seed)
    for index in range(3):
        data = sample(index=index)
        original = data["img"].copy()
        out = transform(data)
        np.testing.assert_array_equal(out["img"], original)
    # Applying the recorded (scaled) parameters directly is the identity as well.
    params = params_of(out["degradation_params"])
    assert params.severity == 0.0
    np.testing.assert_array_equal(
        apply_degradation(original, params, np.random.default_rng()), original
    )


def test_same_seed_same_output_and_other_seed_other_output():
    outs = [RealESRGANDegradation(seed=s)(sample(index=4))["img"] for s in (11, 11, 12)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_output_is_reproducible_from_the_recorded_parameters():
    out = RealESRGANDegradation(seed=5)(sample(index=2))
    record = json.loads(json.dumps(out["degradation_params"]))  # JSON-serialisable
    again = apply_degradation(
        frame(2), params_of(record), np.random.default_rng(record["noise_seed"])
    )
    np.testing.assert_array_equal(again, out["img"])


def _structural(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("noise_seed", "frame")}


def test_per_sequence_uses_one_parameter_set_per_video():
    transform = RealESRGANDegradation(consistency="per_sequence", seed=7)
    records = [transform(sample("SEQ-A", i))["degradation_params"] for i in range(1, 5)]
    assert all(_structural(r) == _structural(records[0]) for r in records)
    assert len({r["noise_seed"] for r in records}) == 4  # fresh noise in every frame
    other = transform(sample("SEQ-B", 1))["degradation_params"]
    assert _structural(other) != _structural(records[0])
    # Without a seed the set is still shared within the object's life.
    unseeded = RealESRGANDegradation(consistency="per_sequence")
    a, b = (unseeded(sample("SEQ-A", i))["degradation_params"] for i in (1, 2))
    assert _structural(a) == _structural(b)


def test_per_frame_draws_new_parameters_per_frame():
    transform = RealESRGANDegradation(consistency="per_frame", seed=7)
    records = [transform(sample("SEQ-A", i))["degradation_params"] for i in range(1, 5)]
    assert len({json.dumps(_structural(r), sort_keys=True) for r in records}) == 4


@pytest.mark.parametrize(
    "shape", [(64, 96, 3), (63, 97, 3), (64, 96), (64, 96, 1), (33, 40, 3)], ids=str
)
def test_shape_dtype_and_boxes_are_kept(shape):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    for seed in range(4):
        data = sample(img=img.copy())
        boxes = data["gt_bboxes"].copy()
        out = RealESRGANDegradation(seed=seed)(data)
        assert out["img"].shape == shape and out["img"].dtype == np.uint8
        np.testing.assert_array_equal(out["gt_bboxes"], boxes)


def test_only_blur_lowers_laplacian_variance_through_the_pipeline():
    blur_only = dict(
        usm_weight=0.0,
        resize_probs=[0.0, 0.0, 1.0],
        resize_probs2=[0.0, 0.0, 1.0],
        gaussian_noise_prob=1.0,
        noise_range=[0.0, 0.0],
        gaussian_noise_prob2=1.0,
        noise_range2=[0.0, 0.0],
        jpeg_range=[100.0, 100.0],
        jpeg_range2=[100.0, 100.0],
        final_sinc_prob=0.0,
        second_blur_prob=1.0,
        blur_sigma=[1.5, 3.0],
    )
    transform = RealESRGANDegradation(seed=1, settings=blur_only)
    for index in range(4):
        data = sample(index=index)
        before = laplacian_variance(data["img"])
        assert laplacian_variance(transform(data)["img"]) < 0.6 * before


def test_severity_strengthens_the_same_draw():
    img = frame(9)
    error = {}
    for severity in (0.25, 1.0):
        transform = RealESRGANDegradation(severity=severity, seed=21)
        diffs = [
            np.abs(transform(sample(index=i, img=img.copy()))["img"].astype(int) - img).mean()
            for i in range(4)
        ]
        error[severity] = float(np.mean(diffs))
    assert 0 < error[0.25] < error[1.0]


def test_shares_parameters_inside_a_transform_broadcaster():
    clip = {
        "img": [frame(i) for i in range(3)],
        "img_path": [f"data/train/SEQ-C/img1/{i:06d}.jpg" for i in range(1, 4)],
    }
    shared = TransformBroadcaster(
        transforms=[RealESRGANDegradation(seed=2)], share_random_params=True
    )(dict(clip))
    records = shared["degradation_params"]
    assert len(records) == 3 and len(shared["img"]) == 3
    assert all(_structural(r) == _structural(records[0]) for r in records)
    assert len({r["noise_seed"] for r in records}) == 3
    independent = TransformBroadcaster(
        transforms=[RealESRGANDegradation(seed=2)], share_random_params=False
    )(dict(clip))
    assert _structural(independent["degradation_params"][0]) != _structural(
        independent["degradation_params"][1]
    )


def test_builds_from_a_config_through_the_registry():
    init_default_scope("mmdet")
    broadcaster = TRANSFORMS.build(
        dict(
            type="TransformBroadcaster",
            share_random_params=True,
            transforms=[dict(type="RealESRGANDegradation", consistency="per_sequence", seed=0)],
        )
    )
    out = broadcaster(
        {"img": [frame(0), frame(1)], "img_path": ["a/S/img1/1.jpg", "a/S/img1/2.jpg"]}
    )
    assert [o.shape for o in out["img"]] == [(64, 96, 3), (64, 96, 3)]


def test_sequence_and_frame_names():
    assert sequence_name({"img_path": "d/train/dancetrack0004/img1/00000012.jpg"}) == (
        "dancetrack0004"
    )
    assert sequence_name({"img_path": "kitti/image_02/0003/000010.png"}) == "0003"
    assert sequence_name({"video_name": "v", "img_path": "x/img1/1.jpg"}) == "v"
    assert sequence_name({"video_id": 4}) == "video_id=4"
    assert sequence_name({}) is None
    assert frame_name({"img_path": "a/b/img1/000007.jpg", "frame_id": 6}) == "000007"
    assert frame_name({"frame_id": 6}) == "6"


def test_bad_inputs_are_refused_with_clear_errors():
    with pytest.raises(ValueError, match="severity"):
        RealESRGANDegradation(severity=1.5)
    with pytest.raises(ValueError, match="consistency"):
        RealESRGANDegradation(consistency="per_clip")
    with pytest.raises(ValueError, match="noise_rnage"):
        RealESRGANDegradation(settings=dict(noise_rnage=[1, 2]))
    with pytest.raises(TypeError, match="uint8"):
        RealESRGANDegradation()({"img": frame().astype(np.float32)})
    with pytest.raises(KeyError, match="cannot tell the sequence"):
        RealESRGANDegradation(consistency="per_sequence")({"img": frame()})


@pytest.mark.parametrize("consistency", ["per_frame", "per_sequence"])
def test_describe_gives_the_record_without_degrading(consistency):
    transform = RealESRGANDegradation(consistency=consistency, seed=4)
    data = sample(index=3)
    record = transform.describe({"img_path": data["img_path"]})
    assert record == transform(data)["degradation_params"]


def test_parameters_reach_the_data_sample_metainfo():
    init_default_scope("mmdet")
    pack = TRANSFORMS.build(
        dict(type="PackDetInputs", meta_keys=("img_path", "img_shape", "degradation_params"))
    )
    data = RealESRGANDegradation(seed=0)(sample() | {"img_shape": (64, 96)})
    data["gt_bboxes_labels"] = np.zeros(1, dtype=np.int64)
    packed = pack(data)
    assert packed["data_samples"].metainfo["degradation_params"] == data["degradation_params"]
