"""Empty, truncated and corrupt images: every reader of the project names the file.

The readers: the configs' pipelines (``LoadImageFromFile``, in still-image and video datasets,
in the main process and in dataloader workers), the frame reader of ``track_video.py``
(:class:`~mmdistillmot.apis.video_tracking.FrameSource`), teacher extraction
(``tools/distill/extract_teacher_embeddings.py``) and the LQ dataset builder. Each must stop
with an error naming the bad file and leave the source files as they were.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Callable
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader

import mmdistillmot  # noqa: F401  (registers the checked LoadImageFromFile)
from mmdistillmot.apis.teacher_extraction import ExtractionError, read_frame
from mmdistillmot.apis.video_tracking import FrameSource
from mmdistillmot.datasets.image_io import ImageReadError, check_image_bytes, decode_image
from mmdistillmot.datasets.lq_builder import BuildConfig, LQBuildError, build_lq_dataset
from mmdistillmot.datasets.synthetic import SyntheticMOTConfig, generate_synthetic_mot

REPO = Path(__file__).resolve().parents[2]
EXTRACT_TOOL = REPO / "tools" / "distill" / "extract_teacher_embeddings.py"


def _image(seed: int = 0, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = cv2.GaussianBlur(rng.normal(128, 50, (*size, 3)), (0, 0), 1.5)
    return np.clip(smooth, 0, 255).astype(np.uint8)


def _encode(ext: str, params: tuple[int, ...] = ()) -> bytes:
    ok, buffer = cv2.imencode(ext, _image(), list(params))
    assert ok
    return buffer.tobytes()


ENCODINGS = {
    "jpeg": _encode(".jpg"),
    "jpeg-progressive": _encode(".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)),
    "jpeg-restart-markers": _encode(".jpg", (cv2.IMWRITE_JPEG_RST_INTERVAL, 2)),
    "png": _encode(".png"),
}

#: How a file goes bad: an interrupted copy (cut anywhere), zero bytes, or not an image.
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated-half": lambda data: data[: len(data) // 2],
    "truncated-last-byte": lambda data: data[:-1],
    "empty": lambda data: b"",
    "garbage": lambda data: b"this is not an image\n" * 8,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root``."""
    return {
        p.relative_to(root).as_posix(): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------- the checker


@pytest.mark.parametrize("kind", sorted(ENCODINGS))
def test_every_truncation_is_refused_and_the_whole_file_decodes(kind: str) -> None:
    data = ENCODINGS[kind]
    whole = decode_image(data, "x")
    np.testing.assert_array_equal(whole, cv2.imdecode(np.frombuffer(data, np.uint8), 1))
    for cut in range(len(data)):  # every prefix: a copy interrupted after `cut` bytes
        with pytest.raises(ImageReadError, match=r"cannot read image 'frame/000042\.x'"):
            decode_image(data[:cut], "frame/000042.x")
    # bytes after the end (some cameras append data) do not make it truncated
    check_image_bytes(data + b"\x00\xff\xda trailer", "x")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_loader_of_the_configs_names_the_file(tmp_path: Path, damage: str) -> None:
    """``LoadImageFromFile`` as the configs' ``mmdet`` scope builds it."""
    from mmdet.registry import TRANSFORMS

    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(ENCODINGS["jpeg"])
    bad.write_bytes(DAMAGES[damage](ENCODINGS["jpeg"]))
    with DefaultScope.overwrite_default_scope("mmdet"):
        loader = TRANSFORMS.build(dict(type="LoadImageFromFile"))
        lenient = TRANSFORMS.build(dict(type="LoadImageFromFile", ignore_empty=True))
    # a good image: the same array as mmcv's own loader gives
    mine = loader(dict(img_path=str(good)))
    theirs = mmcv.transforms.LoadImageFromFile()(dict(img_path=str(good)))
    np.testing.assert_array_equal(mine["img"], theirs["img"])
    assert mine["img_shape"] == mine["ori_shape"] == (48, 64)
    before = sha256(bad)
    with pytest.raises(ImageReadError, match=f"cannot read image '{bad}'"):
        loader(dict(img_path=str(bad)))
    assert lenient(dict(img_path=str(bad))) is None  # ignore_empty keeps mmcv's meaning
    assert sha256(bad) == before


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_images_synthetic")
    cfg = SyntheticMOTConfig(
        seed=2, num_train=1, num_val=1, frames=4, width=160, height=96, people=(3.0, 4.0),
        reid=None,
    )  # fmt: skip
    generate_synthetic_mot(root, cfg, progress=False)
    return root


def _build(config: str, key: str, data_root: Path):  # noqa: ANN202  (an mmdet dataset)
    from mmdet.registry import DATASETS

    dataset_cfg = Config.fromfile(str(REPO / "configs" / "_base_" / "datasets" / config))[key]
    dataset_cfg = dataset_cfg.dataset
    dataset_cfg.data_root = f"{data_root}/"
    with DefaultScope.overwrite_default_scope("mmdet"):
        return DATASETS.build(dataset_cfg)


def test_dataset_configs_name_the_bad_frame(synthetic: Path, tmp_path: Path) -> None:
    """The synthetic detection (train) and tracking (val) configs, also through a worker."""
    det = _build("synthetic_mot_det.py", "train_dataloader", synthetic)
    track = _build("synthetic_mot_track.py", "val_dataloader", synthetic)
    det_frame = Path(det.get_data_info(1)["img_path"])
    track_frame = Path(track.get_data_info(0)["images"][2]["img_path"])
    originals = {path: path.read_bytes() for path in (det_frame, track_frame)}
    try:
        for path, data in originals.items():
            path.write_bytes(data[: len(data) * 2 // 3])  # an interrupted copy
        before = tree(synthetic)
        with pytest.raises(ImageReadError, match=f"cannot read image '{det_frame}'"):
            det[1]
        with pytest.raises(ImageReadError, match=f"cannot read image '{track_frame}'"):
            track[(0, 2)]
        assert track[(0, 1)]["inputs"].shape[-3] == 3  # its neighbours load
        # in a dataloader worker the error comes back to the trainer with the file's name
        loader = DataLoader(det, batch_size=1, num_workers=1, collate_fn=lambda batch: batch)
        with pytest.raises(Exception, match=f"cannot read image '{det_frame}'"):
            list(loader)
        assert tree(synthetic) == before  # nothing written over (or next to) the source
    finally:
        for path, data in originals.items():
            path.write_bytes(data)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_frame_source_of_track_video_names_the_bad_frame(tmp_path: Path, damage: str) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(3):
        data = ENCODINGS["jpeg"]
        (frames / f"{index:06d}.jpg").write_bytes(DAMAGES[damage](data) if index == 1 else data)
    before = tree(frames)
    source = iter(FrameSource(str(frames)))
    assert next(source).shape == (48, 64, 3)
    with pytest.raises(ImageReadError, match=f"cannot read image '{frames / '000001.jpg'}'"):
        next(source)
    assert tree(frames) == before


def test_teacher_extraction_names_the_bad_image(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher

    main = runpy.run_path(str(EXTRACT_TOOL), run_name="extract_teacher_embeddings")["main"]
    img_root = tmp_path / "img"
    img_root.mkdir()
    images, annotations = [], []
    for image_id in (1, 2, 3):
        data = ENCODINGS["png"]
        path = img_root / f"{image_id:06d}.png"
        path.write_bytes(data[:-20] if image_id == 2 else data)  # image 2: truncated
        images.append(dict(id=image_id, file_name=path.name, width=64, height=48))
        annotations.append(
            dict(id=image_id, image_id=image_id, category_id=1, bbox=[4, 4, 16, 30], area=480)
        )
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(
        json.dumps(dict(images=images, annotations=annotations, categories=[dict(id=1)]))
    )
    torch.manual_seed(0)
    weights = tmp_path / "osnet.pth"
    torch.save(OSNetTeacher(arch="osnet_x0_25", allow_random_init=True).model.state_dict(), weights)
    config = tmp_path / "teacher.py"
    config.write_text(
        f"teacher = dict(type='OSNetTeacher', arch='osnet_x0_25', weights={str(weights)!r}, "
        "crop_size=(32, 16), precision='fp32')\n"
    )
    before = tree(img_root)
    out_dir = tmp_path / "store"
    args = [str(config), str(ann_file), str(img_root), str(out_dir), "--threads", "1"]
    assert main([*args, "--batch-size", "1", "--chunk-size", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot read image '{img_root / '000002.png'}'" in err[0], err
    assert tree(img_root) == before
    assert not (out_dir / "fingerprint.json").exists()  # no store claims to be complete
    for damage, make in DAMAGES.items():
        bad = tmp_path / f"{damage}.png"
        bad.write_bytes(make(ENCODINGS["png"]))
        with pytest.raises(ExtractionError, match=f"cannot read image '{bad}'"):
            read_frame(str(bad), "bgr")


def _write_sequence(root: Path, name: str, frames: int = 3) -> Path:
    """A tiny MOTChallenge sequence (JPEG frames, gt.txt, seqinfo.ini)."""
    seq = root / name
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    lines = []
    for f in range(1, frames + 1):
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), _image(seed=f, size=(64, 96)))
        lines.append(f"{f},1,{5 + f},10,20,30,1,1,1")
    (seq / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name}\nimDir=img1\nframeRate=30\nseqLength={frames}\n"
        "imWidth=96\nimHeight=64\nimExt=.jpg\n"
    )
    return seq


@pytest.mark.parametrize("damage", ["truncated-half", "empty", "garbage"])
def test_lq_builder_names_the_bad_frame(tmp_path: Path, damage: str) -> None:
    source = tmp_path / "src" / "val"
    seq = _write_sequence(source, "seq0001")
    bad = seq / "img1" / "000002.jpg"
    bad.write_bytes(DAMAGES[damage](bad.read_bytes()))
    before = tree(source)
    dst = tmp_path / "lq"
    with pytest.raises(LQBuildError, match=f"{bad}"):
        build_lq_dataset([source], dst, BuildConfig(split="val", ratio=1.0))
    assert tree(source) == before  # the source is read, never written
    manifest = json.loads((dst / "manifests" / "val.json").read_text())
    assert manifest["status"] == "in_progress"  # not reported as built
    assert not (dst / "lq" / "val" / "seq0001" / "img1" / bad.name).exists()
