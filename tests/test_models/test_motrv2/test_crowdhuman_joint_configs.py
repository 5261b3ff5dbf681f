"""CrowdHuman joint training: the joint dataset and the two joint configs, on tiny data.

A tiny generated MOT video (the synthetic generator) and three tiny CrowdHuman-style images
(converted by ``crowdhuman_to_coco.py``, proposals in a det-db keyed like ``make_det_db.py``
writes them) stand in for DanceTrack and CrowdHuman. The configs' own datasets and pipelines
are pointed at them; only paths and the resize scale are changed.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, build_tiny, shrink_motrv2
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import mmdistillmot.datasets  # noqa: F401  (VideoFramesDataset, PseudoClipFromImage)

MOTRV2_JOINT = REPO_ROOT / "configs" / "motrv2" / "motrv2_r50_dancetrack_crowdhuman-joint.py"
VSD_JOINT = (
    REPO_ROOT
    / "configs"
    / "vsd_mot"
    / "vsd-mot_r50_dcsd-dswr_lqdancetrack-dancetrack-2to1_crowdhuman-joint.py"
)
VSD_MOT_JOINT = (
    REPO_ROOT / "configs" / "vsd_mot" / "vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1_crowdhuman-joint.py"
)
# every joint config, with the CrowdHuman splits of its recipe (VSD-MOT paper, section IV-C)
JOINT_SPLITS = {
    path: ["val"] if "lqmot-mot" in path.name else ["train", "val"]
    for path in sorted((REPO_ROOT / "configs").glob("*/*_crowdhuman-joint.py"))
}
SCALE = (160, 96)  # tiny frames instead of MOTRv2's 608..992 short side
CH_IDS = {
    "train": ["284193,faa9000f2678b5e", "273271,c9db000d5146c15"],
    "val": ["283554,35288000868e92d"],
}


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(
        name, REPO_ROOT / "tools" / "dataset_converters" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> dict:
    """A 1-video synthetic MOT set and a 3-image CrowdHuman set, each with its det-db."""
    from mmdistillmot.datasets.synthetic import SyntheticMOTConfig, generate_synthetic_mot

    root = tmp_path_factory.mktemp("joint")
    video_root = root / "synthetic_mot"
    generate_synthetic_mot(
        video_root,
        SyntheticMOTConfig(
            seed=0, num_train=1, num_val=1, frames=6, width=160, height=96, reid=None
        ),
        progress=False,
    )
    video_db = video_root / "det.json"
    assert _tool("make_det_db").main(["det-txt", str(video_root / "train"), str(video_db)]) == 0

    ch_root = root / "CrowdHuman"
    (ch_root / "Images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    converter = _tool("crowdhuman_to_coco")
    det_dbs = {}
    for split, ids in CH_IDS.items():
        lines, db = [], {}
        for image_id in ids:
            cv2.imwrite(
                str(ch_root / "Images" / f"{image_id}.jpg"),
                rng.integers(0, 255, (64, 96, 3), dtype=np.uint8),
            )
            boxes = [[8, 6, 20, 44], [40, 10, 22, 50], [70, 4, 24, 40]]  # x, y, w, h
            gtboxes = [dict(tag="person", fbox=b, extra=dict(ignore=0)) for b in boxes]
            lines.append(json.dumps(dict(ID=image_id, gtboxes=gtboxes)))
            # the key make_det_db.py detector writes for crowdhuman_to_coco.py's file names
            db[f"Images/{image_id}.jpg"] = [f"{x + 1},{y},{w},{h},0.8\n" for x, y, w, h in boxes]
        odgt = ch_root / f"annotation_{split}.odgt"
        odgt.write_text("\n".join(lines) + "\n")
        (ch_root / "annotations").mkdir(exist_ok=True)
        assert (
            converter.main(
                [str(odgt), str(ch_root), "-o", str(ch_root / "annotations" / f"{split}.json")]
            )
            == 0
        )
        det_dbs[split] = ch_root / f"det_db_{split}.json"
        det_dbs[split].write_text(json.dumps(db))
    return dict(video_root=video_root, video_db=video_db, ch_root=ch_root, ch_dbs=det_dbs)


def _retarget(pipeline: list, det_db: Path) -> None:
    """Point the proposals at ``det_db`` and every resize at the tiny scale (nested ones too)."""
    for step in pipeline:
        if step["type"] == "LoadDetDBProposals":
            step["det_db"] = str(det_db)
        if step["type"] == "RandomChoiceResize":
            step["scales"] = [SCALE]
        for key in ("transforms", "transforms1", "transforms2"):  # wrappers, MOTRv2's branches
            _retarget(step.get(key, []), det_db)


def _joint_dataset_cfg(cfg: Config, data: dict) -> ConfigDict:
    """The config's joint training dataset, pointed at the tiny data."""
    joint = copy.deepcopy(cfg.train_dataloader.dataset)
    video = joint.datasets[0].dataset
    video.update(
        data_root=str(data["video_root"]),
        ann_file="annotations/train_cocoformat.json",
        data_prefix=dict(img_path=""),
    )
    _retarget(video.pipeline, data["video_db"])
    for still in joint.datasets[1:]:
        split = Path(still.ann_file).stem
        still.data_root = str(data["ch_root"])
        _retarget(still.pipeline, data["ch_dbs"][split])
    return joint


def _build(cfg_dataset: ConfigDict):
    from mmdet.registry import DATASETS

    init_default_scope("mmdet")
    return DATASETS.build(cfg_dataset)


def test_joint_configs_follow_the_paper_and_motrv2():
    init_default_scope("mmdet")
    assert len(JOINT_SPLITS) == 7 and {MOTRV2_JOINT, VSD_JOINT, VSD_MOT_JOINT} <= set(JOINT_SPLITS)
    for path, splits in JOINT_SPLITS.items():
        cfg = Config.fromfile(str(path))
        assert cfg.default_scope == "mmdet" and cfg.custom_imports.imports == ["mmdistillmot"]
        loader = cfg.train_dataloader
        assert loader.sampler.type == "DefaultSampler" and loader.sampler.shuffle
        assert loader.dataset.type == "ConcatDataset"
        video, *stills = loader.dataset.datasets
        assert (
            video.type == "VideoFramesDataset"
            and video.dataset.pipeline[0].type == "MOTRClipSample"
        )
        assert [Path(s.ann_file).stem for s in stills] == splits
        for still in stills:
            clip = still.pipeline[2]
            assert (clip.type, clip.num_frames, clip.max_shift) == ("PseudoClipFromImage", 5, 50)
            # the same clip-shared augmentation as the videos of that config
            video_aug = video.dataset.pipeline[1].transforms[2:-1]  # loaders, proposals off
            still_aug = still.pipeline[3].transforms[:-1]
            assert still_aug == video_aug  # flip, resize / crop branch, HSV: every setting
            assert [t.type for t in still_aug] == [
                "RandomFlip", "MOTRRandomSelect", "YOLOXHSVRandomAug",
            ]  # fmt: skip
            assert still.pipeline[3].transforms[-1].type == "LoadDetDBProposals"
            assert still.pipeline[-1] == video.dataset.pipeline[-1]  # same packing
    assert Config.fromfile(str(VSD_JOINT)).model.type == "VSDMOT"


def test_joint_dataset_yields_video_clips_and_pseudo_clips_alike(tiny_data):
    cfg = Config.fromfile(str(MOTRV2_JOINT))
    joint = _build(_joint_dataset_cfg(cfg, tiny_data))
    assert len(joint.datasets) == 3
    assert len(joint) == 6 + 2 + 1  # every video frame and every CrowdHuman image once
    from mmdet.registry import DATA_SAMPLERS

    sampler = DATA_SAMPLERS.build(
        dict(type="DefaultSampler", shuffle=True, seed=0), default_args=dict(dataset=joint)
    )
    assert sorted(sampler) == list(range(len(joint)))

    np.random.seed(0)  # noqa: NPY002
    video = joint[0]  # the clip starting at frame 1 of the video
    still = joint[8]  # the CrowdHuman val image (the last dataset)
    for packed in (video, still):
        assert packed["inputs"].dtype == torch.uint8 and packed["inputs"].shape[:2] == (5, 3)
        assert len(packed["data_samples"]) == 5
    v_frames, s_frames = video["data_samples"], still["data_samples"]
    assert v_frames[0].frame_id == 0 and v_frames[0].video_id >= 0
    assert s_frames[0].video_id == -1 and [f.frame_id for f in s_frames] == list(range(5))
    assert Path(s_frames[0].img_path).name == f"{CH_IDS['val'][0]}.jpg"
    for v, s in zip(v_frames, s_frames):
        assert set(v.metainfo) == set(s.metainfo)
        assert set(v.gt_instances.keys()) == set(s.gt_instances.keys())
        for key in ("bboxes", "labels", "instances_ids"):
            assert v.gt_instances[key].dtype == s.gt_instances[key].dtype, key
        assert np.asarray(s.det_proposals).shape[1] == 5
    ids = [f.gt_instances.instances_ids.tolist() for f in s_frames]
    assert ids[0] == [0, 1, 2] and all(set(later) <= set(ids[0]) for later in ids[1:])
    # the proposals are the boxes moved 1 px right: same rows, same heights after every warp
    first = s_frames[0]
    np.testing.assert_allclose(
        np.asarray(first.det_proposals)[:, [1, 3]],
        first.gt_instances.bboxes.numpy()[:, [1, 3]],
        atol=1e-3,
    )


@pytest.mark.parametrize("path", list(JOINT_SPLITS), ids=lambda p: p.stem)
def test_every_joint_config_yields_video_and_pseudo_clips(path, tiny_data):
    joint = _build(_joint_dataset_cfg(Config.fromfile(str(path)), tiny_data))
    assert len(joint) == 6 + sum(len(CH_IDS[s]) for s in JOINT_SPLITS[path])
    for index in (0, len(joint) - 1):  # a video clip, a CrowdHuman pseudo clip
        for seed in range(4):  # both of MOTRv2's resize branches, flips, HSV gains
            np.random.seed(seed)  # noqa: NPY002
            packed = joint[index]
            assert packed["inputs"].shape[:2] == (5, 3)
            assert len({f.img_shape for f in packed["data_samples"]}) == 1


def _one_iteration(model, cfg: Config, sample: dict) -> dict:
    from mmengine.optim import build_optim_wrapper

    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    model.train()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    log = model.train_step(pseudo_collate([sample]), optim)
    assert all(np.isfinite(float(v)) for v in log.values())
    # a VSD teacher is built at the first training step (DeferredTeacher): not in `before`
    changed = {
        k for k, v in model.named_parameters() if k in before and not torch.equal(before[k], v)
    }
    return dict(log=log, changed=changed)


def test_motrv2_joint_config_trains_one_iteration_on_a_pseudo_clip(tiny_data):
    cfg = Config.fromfile(str(MOTRV2_JOINT))
    joint = _build(_joint_dataset_cfg(cfg, tiny_data))
    np.random.seed(1)  # noqa: NPY002
    model = build_tiny(shrink_motrv2(cfg.model))
    out = _one_iteration(model, cfg, joint[6])  # a CrowdHuman train image as a 5-frame clip
    assert "loss_cls" in out["log"] and "detect_boxes.weight" in out["changed"]


def test_vsd_joint_config_trains_one_iteration_on_a_pseudo_clip(tiny_data):
    sys.path.insert(0, str(REPO_ROOT / "tests" / "test_models" / "test_vsd"))
    from vsd_testing import EMBED, TEACHER_DIM, TINY_CLIP, register_vsd_modules
    from vsd_testing import shrink_motrv2 as shrink_student

    register_vsd_modules()
    cfg = Config.fromfile(str(VSD_JOINT))
    joint = _build(_joint_dataset_cfg(cfg, tiny_data))
    model_cfg = cfg.model
    shrink_student(model_cfg.student)
    model_cfg.student.query_refiner.student.update(
        in_dim=EMBED, out_dim=EMBED, hidden_dim=16, num_heads=2, ffn_dim=32
    )
    model_cfg.teacher = ConfigDict(TINY_CLIP)  # random tiny CLIP: allowed in tests only
    model_cfg.distill_loss.update(student_dim=EMBED, teacher_dim=TEACHER_DIM)
    np.random.seed(1)  # noqa: NPY002
    model = build_tiny(model_cfg)
    out = _one_iteration(model, cfg, joint[len(joint) - 1])  # CrowdHuman val as a clip
    assert "distill.loss_dcsd" in out["log"] and "student.loss_cls" in out["log"]
    assert any(k.startswith("student.query_refiner.student.") for k in out["changed"])
    assert "student.detect_boxes.weight" in out["changed"]
