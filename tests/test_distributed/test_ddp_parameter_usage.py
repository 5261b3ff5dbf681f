"""Which trainable parameters each model family leaves without a gradient in a training step.

DDP with ``find_unused_parameters=False`` (MMEngine's default) waits for a gradient of every
parameter with ``requires_grad=True`` in every iteration; a parameter that took no part in the
loss makes the *next* iteration fail ("Expected to have finished reduction in the prior
iteration ..."). Parameters with ``requires_grad=False`` (a distiller's frozen teacher, frozen
backbone stages, frozen BatchNorm) are not registered by DDP and do not count. So a family
needs ``find_unused_parameters=True`` exactly when some training step can leave a trainable
parameter out of the graph. ``test_ddp_unused_parameters.py`` checks on 2 real processes that
DDP behaves as this test predicts.

Each case runs one training step of a small model of the family (the family's own config
where it is small enough, otherwise the shrunk variants of the family's tests) on one process
and lists the trainable parameters whose ``.grad`` stayed ``None``. The configs of a family
with such parameters must set ``find_unused_parameters=True`` (checked below).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from dist_testing import REPO
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

import mmdistillmot  # noqa: F401

# Until the subpackage __init__ files list them (their owners' files), import these directly.
import mmdistillmot.models.dense_heads.fairmot_head  # noqa: F401, I001
import mmdistillmot.models.mot.fairmot  # noqa: F401
import mmdistillmot.models.necks.hrnet_upsample_concat  # noqa: F401

MODEL_TESTS = REPO / "tests" / "test_models"
register_all_modules(init_default_scope=True)


def _module(name: str, path: Path) -> ModuleType:
    """Another test folder's helper module (tiny MOTRv2 / VSD-MOT builders) by file path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unused_trainable_parameters(model: torch.nn.Module, losses: dict[str, Any]) -> list[str]:
    """Backpropagate the summed losses; names of trainable parameters that got no gradient.

    Args:
        model: A model in train mode, gradients zeroed (``None``).
        losses: Its loss dict (entries whose key contains ``'loss'`` are summed, as
            mmengine's ``parse_losses`` does).

    Returns:
        Sorted names of the parameters with ``requires_grad=True`` and ``grad is None``.
    """
    total = sum(
        sum(v) if isinstance(v, list | tuple) else v for k, v in losses.items() if "loss" in k
    )
    assert isinstance(total, torch.Tensor) and total.requires_grad
    total.backward()
    return sorted(n for n, p in model.named_parameters() if p.requires_grad and p.grad is None)


def _frames(num: int, height: int = 64, width: int = 96, embed_dim: int | None = None):
    """Detection batch: ``[num, 3, H, W]`` floats and DetDataSamples with 2 boxes each."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(num, 3, height, width, generator=gen) * 255
    samples = []
    for i in range(num):
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0), frame_id=i,
            )
        )  # fmt: skip
        gt = InstanceData(
            bboxes=torch.tensor([[8.0, 6.0, 30.0, 58.0], [50.0, 10.0, 70.0, 50.0]]) + i,
            labels=torch.zeros(2, dtype=torch.long),
            instances_ids=torch.tensor([1, 2]),
        )
        if embed_dim is not None:
            gt.teacher_embeds = torch.randn(2, embed_dim, generator=gen)
        sample.gt_instances = gt
        samples.append(sample)
    return images, samples


def _model_from(config: str, **options: Any) -> torch.nn.Module:
    """Build (seeded) and initialise the model of a repository config, in train mode."""
    cfg = Config.fromfile(str(REPO / config))
    cfg.merge_from_dict({f"model.{key}": value for key, value in options.items()})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def _det_losses(model: torch.nn.Module, images: torch.Tensor, samples: list) -> dict:
    """Losses of a detection-style batch through the model's own data preprocessor."""
    data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples), True)
    return model(**data, mode="loss")


def _fairmot_losses(model: torch.nn.Module, images: torch.Tensor, samples: list) -> dict:
    """FairMOT trains on detection-style batches; its preprocessor (video-style) is bypassed."""
    return model(images / 255.0, samples, mode="loss")


def _tiny_dinov2() -> dict[str, Any]:
    return dict(
        type="DINOv2Teacher", arch="small", allow_random_init=True, weights=None,
        model_kwargs=dict(depth=2, embed_dim=48, num_heads=2, img_size=56),
    )  # fmt: skip


def _motrv2_helpers() -> ModuleType:
    return _module("motrv2_test_helpers", MODEL_TESTS / "test_motrv2" / "conftest.py")


def _vsd_helpers() -> ModuleType:
    helpers = _module("vsd_test_helpers", MODEL_TESTS / "test_vsd" / "vsd_testing.py")
    helpers.register_vsd_modules()
    return helpers


def case_retinanet() -> tuple[torch.nn.Module, dict]:
    model = _model_from("configs/baselines/retinanet_r18_fpn_1x_synthetic.py")
    return model, _det_losses(model, *_frames(2))


def case_tdt() -> tuple[torch.nn.Module, dict]:
    model = _model_from("configs/tdt/tdt_r18_fpn_embed_synthetic.py")
    return model, _det_losses(model, *_frames(2, embed_dim=64))


def case_tdt_no_teacher_embedding() -> tuple[torch.nn.Module, dict]:
    """No box of the batch has a teacher embedding: the embedding branch must still count."""
    model = _model_from("configs/tdt/tdt_r18_fpn_embed_synthetic.py")
    images, samples = _frames(2, embed_dim=64)
    for sample in samples:
        sample.gt_instances.has_teacher_embed = torch.zeros(2, dtype=torch.bool)
    return model, _det_losses(model, images, samples)


def case_two_stage() -> tuple[torch.nn.Module, dict]:
    """Detector trained, Re-ID network frozen (a teacher): the frozen part does not count."""
    model = _model_from(
        "configs/tdt/two-stage_r18_fpn_osnet_synthetic.py",
        **{"reid.weights": None, "reid.allow_random_init": True},
    )
    return model, _det_losses(model, *_frames(2))


def case_fairmot() -> tuple[torch.nn.Module, dict]:
    model = _model_from("configs/fairmot/fairmot_hrnetv2-w18_synthetic.py")
    return model, _fairmot_losses(model, *_frames(2))


def case_fairmot_no_identities() -> tuple[torch.nn.Module, dict]:
    """A JDE-mix batch of detection-only images (all ids -1): the id branch must still count."""
    model = _model_from("configs/fairmot/fairmot_hrnetv2-w18_synthetic.py")
    images, samples = _frames(2)
    for sample in samples:
        sample.gt_instances.instances_ids = torch.full((2,), -1)
    return model, _fairmot_losses(model, images, samples)


def _fairmot_dinov2(distilling: bool) -> tuple[torch.nn.Module, dict]:
    model = _model_from(
        "configs/fairmot_dinov2/fairmot_dinov2-base_mot17-half.py",
        teacher=_tiny_dinov2(),
        # no ImageNet file in the suite: which parameters get gradients does not depend on it
        **{
            "connectors.to_teacher.out_channels": 48,
            "student.bbox_head.num_identities": 5,
            "student.backbone.init_cfg": None,
        },
    )
    model.distill_enabled = distilling
    return model, _fairmot_losses(model, *_frames(2))


def case_fairmot_dinov2() -> tuple[torch.nn.Module, dict]:
    """FeatureDistiller around FairMOT: the frozen teacher does not count."""
    return _fairmot_dinov2(distilling=True)


def case_fairmot_dinov2_distillation_stopped() -> tuple[torch.nn.Module, dict]:
    """After DistillHook's ``stop_at`` the teacher is not run: the connectors get nothing."""
    return _fairmot_dinov2(distilling=False)


def case_reid() -> tuple[torch.nn.Module, dict]:
    from mmdet.structures import ReIDDataSample

    model = _model_from("configs/reid/osnet_x0_25_synthetic.py", num_classes=3)
    sample = ReIDDataSample()
    sample.set_gt_label(torch.tensor([0, 0, 1, 2]))
    crops = torch.randint(0, 255, (4, 3, 64, 32), dtype=torch.uint8)
    data = model.data_preprocessor(dict(inputs=[crops], data_samples=[sample]), True)
    return model, model(**data, mode="loss")


def motrv2_clip_entering_a_scene(helpers: ModuleType) -> tuple[list, list]:
    """A 3-frame clip whose people appear in its last frame (no object before it)."""
    inputs, samples = helpers.make_clip(num_frames=3)
    for t in range(2):
        samples[0][t].gt_instances = samples[0][t].gt_instances[:0]
    return inputs, samples


def _tiny_motrv2(helpers: ModuleType) -> torch.nn.Module:
    cfg = Config.fromfile(str(REPO / "configs" / "motrv2" / "motrv2_r50_synthetic.py"))
    return helpers.build_tiny(helpers.shrink_motrv2(cfg.model, dec_layers=2)).train()


def case_motrv2() -> tuple[torch.nn.Module, dict]:
    """No object before the clip's last frame: no query survives into a frame that is trained."""
    helpers = _motrv2_helpers()
    model = _tiny_motrv2(helpers)
    inputs, samples = motrv2_clip_entering_a_scene(helpers)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return model, model(**data, mode="loss")


def case_motrv2_tracks_survive() -> tuple[torch.nn.Module, dict]:
    """Objects from the first frame on: the matched queries survive (MOTRv2's QIM rule)."""
    helpers = _motrv2_helpers()
    model = _tiny_motrv2(helpers)
    inputs, samples = helpers.make_clip(num_frames=3)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return model, model(**data, mode="loss")


def case_vsd_mot() -> tuple[torch.nn.Module, dict]:
    helpers = _vsd_helpers()
    torch.manual_seed(0)
    model = MODELS.build(helpers.tiny_vsd_mot_cfg(alpha=0.4))
    model.init_weights()
    model.train()
    data = model.data_preprocessor(helpers.two_frame_clip(0), True)
    return model, model(**data, mode="loss")


#: MOTRv2's parameters left out of a step on a fresh model when no query survives into a later
#: frame (no object before the clip's last frame, no score above 0.5): the query interaction
#: module (it returns early on no survivor, and it does not run after the clip's last frame).
#: With objects earlier in the clip the matched queries survive (MOTRv2 keeps every query with
#: an object or a score above 0.5) and QIM is used. The detect queries' learned reference boxes
#: do get a gradient (the first decoder layer sees them undetached).
MOTRV2_UNUSED = {
    *(f"qim.{name}.{kind}" for name in ("content_in", "content_out", "ffn_in", "ffn_out",
                                         "norm_attn", "norm_content", "norm_ffn",
                                         "self_attn.out_proj") for kind in ("weight", "bias")),
    "qim.self_attn.in_proj_weight",
    "qim.self_attn.in_proj_bias",
}  # fmt: skip

#: Case -> (builder, trainable parameters expected without gradient).
CASES: dict[str, tuple[Callable[[], tuple[torch.nn.Module, dict]], set[str]]] = {
    "retinanet": (case_retinanet, set()),
    "tdt": (case_tdt, set()),
    "tdt_no_teacher_embedding": (case_tdt_no_teacher_embedding, set()),
    "two_stage": (case_two_stage, set()),
    "fairmot": (case_fairmot, set()),
    "fairmot_no_identities": (case_fairmot_no_identities, set()),
    "fairmot_dinov2": (case_fairmot_dinov2, set()),
    "fairmot_dinov2_distillation_stopped": (
        case_fairmot_dinov2_distillation_stopped,
        {"connectors.to_teacher.conv.weight", "connectors.to_teacher.conv.bias"},
    ),
    "reid": (case_reid, set()),
    "motrv2": (case_motrv2, MOTRV2_UNUSED),
    "motrv2_tracks_survive": (case_motrv2_tracks_survive, set()),
    "vsd_mot": (case_vsd_mot, set()),  # two people in both frames: QIM is used
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_trainable_parameters_without_gradient(case: str) -> None:
    builder, expected = CASES[case]
    model, losses = builder()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if case.startswith(("fairmot_dinov2", "two_stage", "vsd_mot")):
        # the teacher / Re-ID network is frozen: DDP never registers it
        assert any(n.startswith(("teacher.", "reid.")) for n in frozen)
    assert set(unused_trainable_parameters(model, losses)) == expected


#: Config folders whose models can leave trainable parameters out of a step (see CASES).
NEEDS_FIND_UNUSED = ("configs/motrv2/motrv2_*.py", "configs/vsd_mot/*.py")


def _find_unused(cfg: Config) -> bool:
    wrapper = cfg.get("model_wrapper_cfg") or {}
    return bool(wrapper.get("find_unused_parameters", cfg.get("find_unused_parameters", False)))


def test_configs_of_families_with_unused_parameters_set_find_unused() -> None:
    missing = []
    for pattern in NEEDS_FIND_UNUSED:
        for path in sorted(REPO.glob(pattern)):
            if not _find_unused(Config.fromfile(str(path))):
                missing.append(path.relative_to(REPO).as_posix())
    assert not missing, f"set find_unused_parameters=True in: {missing}"
