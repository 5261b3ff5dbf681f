"""MOTChallengeVideoDataset: each frame carries its video's seqinfo.ini frame rate to the tracker.

Two synthetic sequences get ``frameRate`` 7 and 25 in their ``seqinfo.ini``; the project's
CocoVID converter copies it into ``videos[i]['fps']``. Expected values are those two numbers
and FairMOT's buffer ``int(fps / 30 * 30)`` (7 and 25 frames), against mmdet's own dataset,
whose frames carry no rate (the tracker then keeps the config's 30 fps: 30 frames).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from mmdistillmot.datasets.mot_cocovid import write_cocovid
from mmdistillmot.datasets.mot_files import read_seqinfo

REPO = Path(__file__).resolve().parents[2]
RATES = (7, 25)
LOAD = dict(
    type="TransformBroadcaster",
    transforms=[dict(type="LoadImageFromFile"), dict(type="LoadTrackAnnotations")],
)


@pytest.fixture(scope="module")
def root(tiny_synthetic_mot: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two copies of the tiny validation sequence at 7 and 25 fps, as one CocoVID split."""
    (source,) = sorted((tiny_synthetic_mot / "val").iterdir())
    out = tmp_path_factory.mktemp("video_rates")
    for index, rate in enumerate(RATES):
        name = f"RATE-{index:02d}"
        seq = out / "val" / name
        shutil.copytree(source, seq)
        info = (seq / "seqinfo.ini").read_text()
        info = re.sub(r"(?m)^name=.*$", f"name={name}", info)
        (seq / "seqinfo.ini").write_text(re.sub(r"(?m)^frameRate=.*$", f"frameRate={rate}", info))
    write_cocovid(out, "val", out / "annotations" / "val_cocoformat.json")
    return out


def _dataset(root: Path, dataset_type: str, test_mode: bool = True):
    from mmdet.registry import DATASETS

    pipeline = [LOAD, dict(type="PackTrackInputs")]  # no meta_keys: the dataset adds 'fps'
    if not test_mode:
        sample = dict(type="UniformRefFrameSample", num_ref_imgs=1, frame_range=2)
        pipeline = [sample, *pipeline]
    with DefaultScope.overwrite_default_scope("mmdet"):
        return DATASETS.build(
            dict(
                type=dataset_type,
                data_root=str(root),
                ann_file="annotations/val_cocoformat.json",
                data_prefix=dict(img_path=""),
                metainfo=dict(classes=("pedestrian",)),
                test_mode=test_mode,
                pipeline=pipeline,
            )
        )


def _seqinfo_rate(frame_sample) -> int:
    """The frameRate of the seqinfo.ini of the frame's sequence (read from the file itself)."""
    return read_seqinfo(Path(frame_sample.img_path).parents[1] / "seqinfo.ini").frame_rate


def test_every_frame_carries_its_videos_seqinfo_rate(root: Path) -> None:
    dataset = _dataset(root, "MOTChallengeVideoDataset")
    assert len(dataset) == 2
    seen = []
    for video_idx in range(len(dataset)):
        for frame_idx in range(dataset.get_len_per_video(video_idx)):  # TrackImgSampler's order
            (frame,) = dataset[(video_idx, frame_idx)]["data_samples"]
            assert frame.fps == _seqinfo_rate(frame)
            seen.append(frame.fps)
    assert sorted(set(seen)) == list(RATES)
    # training: the key frame and its reference frame alike
    video = _dataset(root, "MOTChallengeVideoDataset", test_mode=False)[1]["data_samples"]
    assert [frame.fps for frame in video] == [RATES[1]] * 2
    # mmdet's own dataset leaves the rate out: what the tracker fell back from
    (frame,) = _dataset(root, "MOTChallengeDataset")[(0, 0)]["data_samples"]
    assert "fps" not in frame.metainfo


def test_tools_test_path_gives_the_tracker_each_videos_buffer(root: Path) -> None:
    """The synthetic tracking config, as ``tools/test.py`` builds it: dataset -> TDT -> tracker."""
    from mmdet.registry import DATASETS, MODELS

    cfg = Config.fromfile(str(REPO / "configs" / "tdt" / "tdt_r18_fpn_iou-only_synthetic.py"))
    data = cfg.test_dataloader.dataset
    data.data_root, data.pipeline[0].transforms[1].scale = str(root), (160, 96)
    assert cfg.model.tracker.get("frame_rate", 30) == 30 and cfg.model.tracker.track_buffer == 30
    with DefaultScope.overwrite_default_scope("mmdet"):
        dataset = DATASETS.build(data)
        model = MODELS.build(cfg.model).eval()
    buffers = {}
    for video_idx in range(len(dataset)):
        packed = dataset[(video_idx, 0)]
        model.test_step(pseudo_collate([packed]))
        buffers[_seqinfo_rate(packed["data_samples"][0])] = model.tracker.max_time_lost
    assert buffers == {7: 7, 25: 25}  # int(fps / 30 * 30); 30 and 30 before
