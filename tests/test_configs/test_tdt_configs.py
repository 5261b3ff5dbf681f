"""Every config under configs/tdt builds, trains one iteration and tracks one frame.

The data is the project's tiny synthetic MOT set; the teacher stores are extracted from its
training boxes by random-init teachers of the kinds the configs expect (OSNet-Large, OSNet-Small,
ResNet-50), so each config's store fingerprint check runs for real. Image sizes, batch sizes and
the schedule are shrunk by ``tiny_config.shrink_config``; the architectures stay as configured.
"""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path

import mmengine.config.config as mmengine_config_module
import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.evaluator import DumpResults
from mmengine.runner import Runner

import mmdistillmot  # noqa: F401  (registers everything)
from mmdistillmot.apis.teacher_extraction import extract
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher
from mmdistillmot.models.teachers.torchreid_teacher import TorchreidTeacher
from mmdistillmot.utils import check_config_types

from tiny_config import iter_leaf_datasets, iter_transforms, shrink_config  # isort: skip

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "configs" / "tdt"
MODEL_CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
TEACHER_CONFIGS = sorted((CONFIG_DIR / "teachers").glob("*.py"))
TINY_SCALE = (160, 96)
TINY_CROP = (32, 16)  # teacher crops for the tiny stores (h, w)

pytestmark = pytest.mark.slow


def _load_tool(relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def plain_config_text() -> Iterator[None]:
    """Skip yapf when the Runner logs and dumps the config (about 9 s of CPU per call here).

    mmengine formats the config text with yapf for every log / dump; the unformatted text is the
    same valid Python. Test-local: undone after this module.
    """
    patch = pytest.MonkeyPatch()
    patch.setattr(mmengine_config_module, "FormatCode", lambda text, **kwargs: (text, None))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tiny data roots, a one-frame validation file and one store per expected teacher."""
    root = tmp_path_factory.mktemp("tdt_configs_data")
    generator = _load_tool("tools/dataset_converters/make_synthetic_mot.py", "make_synthetic_mot")
    # one training sequence of 3 frames, one validation sequence; no Re-ID split
    argv = [str(root), "--seed", "0", "--num-train", "1", "--num-val", "1", "--frames", "3"]
    assert generator.main([*argv, "--size", "160x96", "--no-reid", "--quiet"]) == 0
    out = tmp_path_factory.mktemp("tdt_configs")
    train_ann = root / "annotations" / "train_cocoformat.json"
    # one video of one frame: "tests one frame"
    val = json.loads((root / "annotations" / "val_cocoformat.json").read_text())
    video = val["videos"][0]
    image = min(
        (im for im in val["images"] if im["video_id"] == video["id"]), key=lambda im: im["frame_id"]
    )
    one_frame = dict(
        val,
        videos=[video],
        images=[image],
        annotations=[a for a in val["annotations"] if a["image_id"] == image["id"]],
    )
    val_ann = out / "val_one_frame.json"
    val_ann.write_text(json.dumps(one_frame))

    teachers = {
        ("OSNetTeacher", "osnet_ain_x1_0"): lambda: OSNetTeacher(
            arch="osnet_ain_x1_0", allow_random_init=True, crop_size=TINY_CROP, precision="fp32"
        ),
        ("OSNetTeacher", "osnet_x0_25"): lambda: OSNetTeacher(
            arch="osnet_x0_25", allow_random_init=True, crop_size=TINY_CROP, precision="fp32"
        ),
        ("TorchreidTeacher", "resnet50"): lambda: TorchreidTeacher(
            arch="resnet50", allow_random_init=True, crop_size=TINY_CROP, precision="fp32"
        ),
    }
    stores = {}
    for (name, arch), build in teachers.items():
        torch.manual_seed(0)
        store = out / f"store_{arch}"
        # all images in one teacher call: one set of CPU kernels to prepare
        extract(build(), str(train_ann), str(root), str(store), batch_size=16)
        stores[(name, arch)] = str(store)
    return dict(
        root=str(root) + "/",
        train_ann=str(train_ann),
        val_ann=str(val_ann),
        sequence=video["name"],
        stores=stores,
        work=out,
    )


def _without_weights_pin(expected: dict | None) -> dict | None:
    """The config's expected teacher, its weights pin swapped for the tiny stores' none.

    (The overrides are merged into the transform, so the key is overwritten, not dropped:
    random-init teachers record ``weights_sha256: None``.)
    """
    if not expected or "weights_sha256" not in expected:
        return expected
    return dict(expected, weights_sha256=None)


def _store_for(stores: dict, transform: ConfigDict) -> str:
    """The tiny store whose teacher the transform expects (OSNet-Large when it names none)."""
    expected = transform.get("expected_teacher") or {}
    key = (expected.get("name", "OSNetTeacher"), expected.get("arch", "osnet_ain_x1_0"))
    if key not in stores:
        raise KeyError(f"no tiny store for expected teacher {key}; add one to the fixture")
    return stores[key]


def _tiny(path: Path, data: dict, work_dir: Path) -> Config:
    cfg = Config.fromfile(str(path))
    check_config_types(cfg, str(path))
    tiny = shrink_config(
        cfg,
        work_dir=str(work_dir),
        train_dataset=dict(
            data_root=data["root"],
            ann_file="annotations/train_cocoformat.json",
            data_prefix=dict(img=""),
        ),
        test_dataset=dict(
            data_root=data["root"], ann_file=data["val_ann"], data_prefix=dict(img_path="")
        ),
        img_scale=TINY_SCALE,
        # 2, not 1: the embedder's BatchNorm needs more than one value per channel on the
        # 1x1 P7 map of a tiny image
        batch_size=2,
        transform_overrides={
            "LoadTeacherEmbeddings": lambda t: dict(
                store_dir=_store_for(data["stores"], t),
                ann_file=data["train_ann"],
                # the tiny stores come from random-init teachers (no weight files in tests), so
                # a config's weights pin cannot hold for them; name and arch still must
                allow_random_init_teacher=True,
                expected_teacher=_without_weights_pin(t.get("expected_teacher")),
            )
        },
    )
    # keep a few boxes on the test frame so the whole tracking path runs (the random-init
    # detector scores every anchor near its prior, below the configured thresholds)
    tiny.model.detector.test_cfg.update(score_thr=0.0, max_per_img=3)
    tiny.model.tracker.obj_score_thr = 0.0
    return tiny


@pytest.mark.parametrize("config_path", MODEL_CONFIGS, ids=lambda p: p.name)
def test_config_trains_one_iteration_and_tracks_one_frame(
    config_path: Path, tiny_data: dict, tmp_path: Path
) -> None:
    configured = Config.fromfile(str(config_path))
    cfg = _tiny(config_path, tiny_data, tmp_path)
    runner = Runner.from_cfg(cfg)
    model = runner.model

    # the architecture is the configured one
    head_cfg = configured.model.detector.bbox_head
    head = model.detector.bbox_head
    assert type(head).__name__ == head_cfg.type
    assert type(model.detector.backbone).__name__ == configured.model.detector.backbone.type
    assert type(model.detector.neck).__name__ == configured.model.detector.neck.type
    assert head.stacked_convs == head_cfg.stacked_convs
    assert head.feat_channels == head_cfg.feat_channels
    if head_cfg.type == "RetinaEmbedHead" and "embed_dim" in head_cfg:
        assert head.retina_embed.out_channels == head.num_base_priors * head_cfg.embed_dim
    if head_cfg.type == "YOLOXEmbedHead":  # one embedder per level, one prior per position
        assert [c.out_channels for c in head.multi_level_conv_embed] == [head_cfg.embed_dim] * len(
            head.strides
        )

    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    runner.train()
    hub = runner.message_hub
    loss = hub.get_scalar("train/loss").current()
    assert math.isfinite(loss) and loss > 0
    if head_cfg.type in ("RetinaEmbedHead", "YOLOXEmbedHead"):
        # the embedding branch was supervised by the (stored) teacher embeddings
        loss_embed = hub.get_scalar("train/loss_embed").current()
        assert math.isfinite(loss_embed) and loss_embed > 0
    changed = [
        n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])
    ]
    assert changed, "one SGD step changed no parameter"
    # a teacher inside the model (two-stage Re-ID) stays frozen
    reid = getattr(model, "reid", None)
    if reid is not None:
        assert not any(p.requires_grad for p in reid.parameters())

    dump = tmp_path / "predictions.pkl"
    runner.test_evaluator.metrics.append(DumpResults(out_file_path=str(dump)))
    metrics = runner.test()
    with open(dump, "rb") as file:
        (video,) = pickle.load(file)
    frames = video["video_data_samples"] if isinstance(video, dict) else video
    assert len(frames) == 1
    tracks = (
        frames[0]["pred_track_instances"]
        if isinstance(frames[0], dict)
        else frames[0].pred_track_instances
    )
    bboxes = np.asarray(tracks["bboxes"] if isinstance(tracks, dict) else tracks.bboxes)
    ids = np.asarray(tracks["instances_id"] if isinstance(tracks, dict) else tracks.instances_id)
    assert bboxes.ndim == 2 and bboxes.shape[1] == 4 and len(ids) == len(bboxes)

    evaluator = cfg.test_evaluator
    if evaluator.get("format_only"):
        # MOTChallengeMetric writes <outfile_prefix>/<tracker name>/<sequence>.txt
        results = list(Path(evaluator.outfile_prefix).rglob(f"{tiny_data['sequence']}.txt"))
        assert len(results) == 1, f"no MOTChallenge result file under {evaluator.outfile_prefix}"
        rows = [line.split(",") for line in results[0].read_text().splitlines()]
        assert all(len(row) == 10 and row[0] == "1" for row in rows)  # frame 1, MOT format
        assert len(rows) == len(bboxes)
    else:
        assert any(key.endswith("MOTA") for key in metrics), metrics


def test_shrink_config_changes_data_not_architecture(tiny_data: dict, tmp_path: Path) -> None:
    path = CONFIG_DIR / "retinanet_r34_embed.py"
    configured = Config.fromfile(str(path))
    tiny = _tiny(path, tiny_data, tmp_path)
    assert tiny.model.detector.backbone.depth == configured.model.detector.backbone.depth == 34
    assert tiny.model.detector.backbone.init_cfg is None  # no weight files in tests
    assert tiny.model.detector.bbox_head.embed_dim == 128
    leaves = list(iter_leaf_datasets(tiny.train_dataloader.dataset))
    assert len(leaves) == 8  # six JDE sources + CrowdHuman train and val
    for leaf in leaves:
        assert leaf.data_root == tiny_data["root"] and leaf.indices == 2
        scales = [t.get("scale") for t in iter_transforms(leaf.pipeline) if "scale" in t]
        assert scales == [TINY_SCALE]
    assert tiny.train_cfg.max_iters == 1 and tiny.train_dataloader.num_workers == 0
    # the source config is untouched
    assert configured.train_cfg.max_iters == 500000


def _scheduled_lrs(path: Path, iters: list[int]) -> list[float]:
    """The configured lr after each of ``iters`` (increasing) scheduler steps."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import PARAM_SCHEDULERS

    cfg = Config.fromfile(str(path))
    wrapper = build_optim_wrapper(torch.nn.Linear(1, 1), cfg.optim_wrapper)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper)) for s in cfg.param_scheduler]
    lrs, step = [], 0
    for target in iters:
        for _ in range(target - step):
            for scheduler in schedulers:
                scheduler.step()
        step = target
        lrs.append(wrapper.get_lr()["lr"][0])
    return lrs


def test_schedule_matches_the_paper() -> None:
    """Sec. 4.2: lr 0.15 (batch 16), linear warm-up from 0.001 over 2000 iterations, cosine.

    Checked on the 300K-iteration ablation schedule: 0.001 at the start, half way up after 1000
    iterations, 0.15 at 2000, and half of 0.15 half way through the cosine phase
    (2000 + 298000 / 2), where cos(pi / 2) = 0.
    """
    path = CONFIG_DIR / "ablation_r34-fpn_d512.py"
    cfg = Config.fromfile(str(path))
    assert cfg.optim_wrapper.optimizer.type == "SGD"
    assert cfg.optim_wrapper.optimizer.lr == 0.15
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.train_cfg.max_iters == 300000
    lrs = _scheduled_lrs(path, [0, 1000, 2000, 2000 + 298000 // 2])
    assert lrs[0] == pytest.approx(0.001, rel=1e-6)
    # mmengine's LinearLR reaches the peak at end - 1: lr(k) = 0.001 + (0.15 - 0.001) * k / 1999
    assert lrs[1] == pytest.approx(0.001 + 0.149 * 1000 / 1999, rel=1e-6)
    assert lrs[2] == pytest.approx(0.15, rel=1e-6)
    assert lrs[3] == pytest.approx(0.075, rel=1e-4)
    assert Config.fromfile(str(CONFIG_DIR / "retinanet_r34_embed.py")).train_cfg.max_iters == 500000


def test_anchor_ratios_are_the_papers_width_over_height() -> None:
    """0.25 / 0.5 / 1.0 (w/h) are mmdet ratios 4 / 2 / 1 (h/w) in every TDT-scale config."""
    for path in MODEL_CONFIGS:
        if "synthetic" in path.name:
            continue
        cfg = Config.fromfile(str(path))
        if "anchor_generator" not in cfg.model.detector.bbox_head:
            continue  # anchor-free (YOLOX): no aspect ratios
        generator = cfg.model.detector.bbox_head.anchor_generator
        assert sorted(1.0 / r for r in generator.ratios) == [0.25, 0.5, 1.0], path.name
        assert generator.scales_per_octave == 3 and generator.strides == [8, 16, 32, 64, 128]


@pytest.mark.parametrize("config_path", TEACHER_CONFIGS, ids=lambda p: p.name)
def test_teacher_config_refuses_missing_weights_and_embeds_with_random_init(
    config_path: Path, tmp_path: Path
) -> None:
    from mmdet.registry import MODELS

    cfg = Config.fromfile(str(config_path))
    # the config's own path may exist in a working copy (docs/adapt_to_footage.md copies the
    # OSNet file there): a path that surely does not
    missing = tmp_path / Path(cfg.teacher.weights).name
    with pytest.raises(FileNotFoundError, match=str(missing)):
        MODELS.build(dict(cfg.teacher, weights=str(missing)))
    teacher = MODELS.build(
        dict(cfg.teacher, weights=None, allow_random_init=True, precision="fp32")
    )
    frame = torch.randint(0, 255, (3, 96, 160), dtype=torch.uint8)
    boxes = torch.tensor([[10.0, 10.0, 40.0, 90.0], [100.0, 5.0, 130.0, 70.0]])
    (embeddings,) = teacher([frame], [boxes])
    # torchreid's feature sizes: OSNet 512, ResNet-50 2048 (global pooling of layer4)
    expected_dim = 2048 if cfg.teacher.arch == "resnet50" else 512
    assert embeddings.shape == (2, expected_dim)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)


def test_the_osnet_small_ablation_pins_the_msmt17_weights() -> None:
    """Issue 14 item 3: stores of the Market-1501 file (same arch) are refused by hash."""
    cfg = Config.fromfile(str(REPO / "configs/tdt/ablation_r34-fpn_d512_teacher-osnet-x0_25.py"))
    assert cfg.expected_teacher["weights_sha256"] == (
        "6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99"
    )
