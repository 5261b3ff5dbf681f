"""The student's training config on pseudo-labelled footage (footage_student_config)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.config import Config

from mmdistillmot.apis.footage_adaptation import footage_student_config, iter_transforms

REPO = Path(__file__).resolve().parents[2]
STUDENT = REPO / "configs" / "tdt" / "tdt_mnetv2-fpn_embed_synthetic.py"


def test_the_config_reads_the_pseudo_set_and_its_store(tmp_path: Path) -> None:
    base = Config.fromfile(str(STUDENT))
    cfg = footage_student_config(
        base, tmp_path / "pseudo", tmp_path / "store", epochs=3,
        load_from=str(tmp_path / "det.pth"), freeze_detector=True,
    )  # fmt: skip
    train = cfg.train_dataloader.dataset
    assert train.data_root == f"{tmp_path / 'pseudo'}/"
    assert train.ann_file == "annotations/footage_cocoformat.json"
    (load,) = [t for t in iter_transforms(train.pipeline) if t.type == "LoadTeacherEmbeddings"]
    assert load.store_dir == str(tmp_path / "store")
    assert load.ann_file == str(tmp_path / "pseudo" / "annotations" / "footage_cocoformat.json")
    assert cfg.test_dataloader.dataset.data_root == f"{tmp_path / 'pseudo'}/"
    assert cfg.train_cfg.max_epochs == 3 and cfg.train_cfg.val_begin == 4
    # the per-iteration warm-up stays, the epoch cosine now ends with the run
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, warmup.by_epoch) == (base.param_scheduler[0].end, False)
    assert (cosine.T_max, cosine.end) == (3, 3)
    assert cfg.load_from == str(tmp_path / "det.pth") and cfg.model.trainable == ["embed"]
    # the student's own file is untouched, and the result dumps and reloads
    assert base.train_cfg.max_epochs == 6 and "trainable" not in base.model
    cfg.dump(str(tmp_path / "student.py"))
    again = Config.fromfile(str(tmp_path / "student.py"))
    assert again.train_dataloader.dataset.ann_file == train.ann_file


def test_without_freezing_the_detector_fine_tunes(tmp_path: Path) -> None:
    cfg = footage_student_config(Config.fromfile(str(STUDENT)), tmp_path, tmp_path, epochs=1)
    assert "trainable" not in cfg.model and cfg.get("load_from") is None


def test_a_two_stage_config_is_refused_naming_the_file(tmp_path: Path) -> None:
    two_stage = REPO / "configs" / "tdt" / "two-stage_mnetv2-fpn_osnet_synthetic.py"
    with pytest.raises(KeyError, match=r"two-stage_mnetv2-fpn_osnet_synthetic\.py: model\.type"):
        footage_student_config(Config.fromfile(str(two_stage)), tmp_path, tmp_path, epochs=1)
