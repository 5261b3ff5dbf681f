"""The distillation guide's code runs as written: its worked example and its new parts.

* ``configs/examples/retinanet_r18_fpn_distill-dinov2-small_synthetic.py`` builds (with a
  one-block random DINOv2 of the configured width), trains one step with both loss groups,
  moves the student and the connector but not the teacher, and predicts like the baseline;
* the ``# my_project/...`` code blocks of ``docs/distillation.md`` (a new teacher, connector and
  loss, and a config using them) are copied out of the page and run in a fresh process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "configs/examples/retinanet_r18_fpn_distill-dinov2-small_synthetic.py"
BASELINE = REPO_ROOT / "configs/baselines/retinanet_r18_fpn_1x_synthetic.py"
GUIDE = REPO_ROOT / "docs/distillation.md"
SNIPPET = re.compile(r"```python\n# (my_project/[\w.-]+\.py)\n(.*?)```", re.DOTALL)
H, W = 96, 160


def _sample(boxes: list[list[float]]) -> DetDataSample:
    sample = DetDataSample(
        metainfo=dict(img_shape=(H, W), ori_shape=(H, W), pad_shape=(H, W), scale_factor=(1, 1))
    )
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(boxes), dtype=torch.long),
    )
    return sample


def _batch(num: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    frames = []
    for _ in range(num):
        frame = torch.randint(0, 60, (3, H, W), generator=gen, dtype=torch.uint8)
        frame[:, 20:80, 40:64] = 200  # a bright upright "person"
        frames.append(frame)
    return dict(inputs=frames, data_samples=[_sample([[40.0, 20.0, 64.0, 80.0]]) for _ in frames])


def _tiny_example_model() -> torch.nn.Module:
    cfg = Config.fromfile(str(EXAMPLE))
    # the configured width (384, so the connector is as configured), one block, random weights
    cfg.model.teacher.update(weights=None, allow_random_init=True, model_kwargs=dict(depth=1))
    return MODELS.build(cfg.model)


def test_worked_example_trains_one_step_and_predicts() -> None:
    torch.manual_seed(0)
    model = _tiny_example_model()
    assert type(model).__name__ == "FeatureDistiller" and model.alpha == 0.5
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log_vars = model.train_step(_batch(2), optim)

    assert {"student.loss_cls", "student.loss_bbox", "distill.loss_dinov2"} <= set(log_vars)
    weighted = [torch.as_tensor(v) for k, v in log_vars.items() if "loss" in k and k != "loss"]
    assert torch.isclose(torch.as_tensor(log_vars["loss"]), torch.stack(weighted).sum())
    # the logged distillation entry is alpha x the unweighted cosine loss, and 1 - cos >= 0
    unweighted = model.last_distill_values["dinov2"]
    assert float(log_vars["distill.loss_dinov2"]) == pytest.approx(0.5 * unweighted, rel=1e-5)
    assert unweighted == pytest.approx(1.0 - model.last_similarity["dinov2"], abs=1e-5)

    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("student.backbone.") for k in changed)
    assert any(k.startswith("connectors.p3_to_teacher.") for k in changed)
    assert not any(k.startswith("teacher.") for k in changed)
    assert not model.teacher.training and model.student.training

    model.eval()
    with torch.no_grad():
        (result,) = model.test_step(dict(inputs=_batch(1)["inputs"], data_samples=[_sample([])]))
    assert result.pred_instances.bboxes.shape[-1] == 4


def test_worked_example_student_is_the_baseline() -> None:
    """The deployed network is the baseline config's, tensor for tensor."""
    distiller = _tiny_example_model()
    baseline = MODELS.build(Config.fromfile(str(BASELINE)).model)
    assert [(k, v.shape) for k, v in distiller.student.state_dict().items()] == [
        (k, v.shape) for k, v in baseline.state_dict().items()
    ]


def test_guide_snippets_are_found() -> None:
    names = [name for name, _ in SNIPPET.findall(GUIDE.read_text(encoding="utf-8"))]
    assert names == [
        "my_project/my_distill_parts.py",
        "my_project/retinanet_r18_fpn_distill-resnet18_synthetic.py",
    ]


@pytest.mark.slow  # a fresh interpreter importing mmdet and torchvision: ~10 s on 2 cores
def test_guide_snippets_run_as_written(tmp_path: Path) -> None:
    for name, code in SNIPPET.findall(GUIDE.read_text(encoding="utf-8")):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    # `_base_ = ['../configs/...']` resolves from my_project/ as it does next to the repo's configs
    (tmp_path / "configs").symlink_to(REPO_ROOT / "configs")
    check = textwrap.dedent(
        """
        import torch, torchvision
        from mmengine.config import Config
        from mmengine.optim import OptimWrapper
        from mmengine.registry import init_default_scope
        from mmdet.registry import MODELS
        from test_distillation_guide import _batch

        import my_distill_parts  # on PYTHONPATH, as the page says

        assert my_distill_parts.ResNet18StageTeacher.__name__ in MODELS.module_dict
        cfg = Config.fromfile('my_project/retinanet_r18_fpn_distill-resnet18_synthetic.py')
        init_default_scope(cfg.default_scope)
        # a torchvision-layout weight file loads into the teacher (weights_module)
        reference = torchvision.models.resnet18(weights=None)
        torch.save(reference.state_dict(), 'resnet18.pth')
        cfg.model.teacher.update(weights='resnet18.pth', input_size=(64, 96))
        model = MODELS.build(cfg.model)
        assert torch.equal(model.teacher.net.conv1.weight, reference.conv1.weight)
        assert not any(p.requires_grad for p in model.teacher.parameters())

        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
        model.train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        log_vars = model.train_step(_batch(2), optim)
        assert 'distill.loss_resnet' in log_vars, sorted(log_vars)
        # normalised maps: each position's squared distance lies in [0, 4]
        assert 0.0 <= model.last_distill_values['resnet'] <= 4.0
        changed = {k for k in before if not torch.equal(before[k], model.state_dict()[k])}
        assert any(k.startswith('connectors.p3_to_teacher.depthwise') for k in changed)
        assert not any(k.startswith('teacher.') for k in changed)
        print('ok', sorted(log_vars))
        """
    )
    python_path = os.pathsep.join([str(tmp_path / "my_project"), str(Path(__file__).parent)])
    env = {**os.environ, "PYTHONPATH": python_path, "OMP_NUM_THREADS": "2"}
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].startswith("ok ")
