"""``tools/dist_test.sh`` with 2 CPU processes scores a tracker exactly like one process does.

The tracker is the IoU-only TDT config users run on the synthetic set, with one fixed
checkpoint (a seeded random initialisation: the test is about splitting and gathering, not
about accuracy). Its score thresholds are set to 0 so that the untrained detector's boxes
(scores near the focal-loss prior 0.01) reach the tracker and make tracks, wrong ones mostly,
which gives non-trivial HOTA / CLEAR / Identity numbers.

mmdet's ``TrackImgSampler`` gives each rank whole videos (3 videos on 2 ranks: 2 and 1), the
tracker runs frame by frame on its rank, and ``MOTChallengeMetric`` gathers the per-video
results and lets rank 0 run TrackEval on all of them. Every frame is computed exactly as in
one process (batch size 1), so the metrics must be equal, not close. As an independent check
that no video was lost in the gathering, TP + FN must be the number of ground-truth boxes in
the annotation file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from dist_testing import REPO, TOOLS, launch

IOU_ONLY_CONFIG = REPO / "configs" / "tdt" / "tdt_r18_fpn_iou-only_synthetic.py"
GENERATOR = REPO / "tools" / "dataset_converters" / "make_synthetic_mot.py"

# One process renders the data and saves the checkpoint (one package import instead of two).
FIXTURE_SCRIPT = """
import runpy, sys
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
import mmdistillmot  # noqa: F401

generator, data_root, config, checkpoint = sys.argv[1:]
sys.argv = [generator, data_root, '--seed', '0', '--num-train', '1', '--num-val', '3',
            '--frames', '6', '--size', '160x96', '--no-reid', '--quiet']
try:
    runpy.run_path(generator, run_name='__main__')
except SystemExit as done:
    assert not done.code, done.code
register_all_modules(init_default_scope=True)
torch.manual_seed(0)
model = MODELS.build(Config.fromfile(config).model)
model.init_weights()
torch.save({'meta': {}, 'state_dict': model.state_dict()}, checkpoint)
"""

TEST_CONFIG = """
_base_ = ['{base}']
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root='{data_root}/'))
# untrained detector: let its low-score boxes through to the tracker
model = dict(detector=dict(test_cfg=dict(score_thr=0.0)), tracker=dict(obj_score_thr=0.0))
"""


def _metrics(work_dir: Path) -> dict[str, float]:
    """The metrics the Runner dumped (``<timestamp>/<timestamp>.json``), timings dropped."""
    (found,) = work_dir.glob("*/*.json")
    metrics = json.loads(found.read_text())
    return {k: v for k, v in metrics.items() if k.startswith("motchallenge-metric/")}


@pytest.mark.slow
def test_dist_test_gives_the_single_process_metrics(tmp_path: Path) -> None:
    data_root, checkpoint = tmp_path / "synthetic_mot", tmp_path / "tdt_iou_only.pth"
    launch(
        [sys.executable, "-c", FIXTURE_SCRIPT, str(GENERATOR), str(data_root),
         str(IOU_ONLY_CONFIG), str(checkpoint)]
    )  # fmt: skip
    config = tmp_path / "tdt_iou_only_test.py"
    config.write_text(TEST_CONFIG.format(base=IOU_ONLY_CONFIG, data_root=data_root))

    two, one = tmp_path / "two_processes", tmp_path / "one_process"
    result = launch(
        ["bash", str(TOOLS / "dist_test.sh"), str(config), str(checkpoint), "2",
         "--work-dir", str(two)]
    )  # fmt: skip
    log = result.stdout + result.stderr
    assert "2 CPU processes on the gloo backend" in log
    assert "on 3 sequence(s)" in log  # rank 0 evaluated rank 1's video too
    launch([sys.executable, str(TOOLS / "test.py"), str(config), str(checkpoint),
            "--work-dir", str(one)])  # fmt: skip

    dist_metrics, single_metrics = _metrics(two), _metrics(one)
    assert len(single_metrics) >= 10  # HOTA, CLEAR and Identity entries
    assert dist_metrics == single_metrics

    coco = json.loads((data_root / "annotations" / "val_cocoformat.json").read_text())
    num_gt = sum(1 for ann in coco["annotations"] if not ann.get("iscrowd", 0))
    tp, fn = single_metrics["motchallenge-metric/TP"], single_metrics["motchallenge-metric/FN"]
    assert tp > 0 and tp + fn == num_gt
