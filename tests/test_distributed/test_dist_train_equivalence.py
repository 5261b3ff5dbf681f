"""Two CPU processes (torchrun, gloo) train a distillation model like one process does.

``bash tools/dist_train.sh CONFIG 2`` with 2 images per process must give the same weights,
step by step, as ``python tools/train.py CONFIG`` with 4 images, because data-parallel SGD
with averaged gradients is the same algorithm as SGD on the whole batch, provided that:

* the union of the ranks' batches is the single process's batch: no shuffling, and mmengine's
  ``DefaultSampler`` gives rank r the images r, r + 2, r + 4, ... (iteration 1: rank 0 has
  images {0, 2}, rank 1 {1, 3}; one process has {0, 1, 2, 3});
* every sample's output depends on that sample alone: the student's BatchNorm layers are
  frozen in eval mode (``norm_eval=True``), so they normalise with their stored statistics
  instead of the statistics of the per-process batch. This makes the equality exact, up to
  float summation order. Train-mode BatchNorm would normalise 2 images by their own mean
  and variance on each rank but 4 images together in one process: different activations and
  gradients. SyncBN would restore the whole-batch statistics, but torch's SyncBatchNorm
  trains on GPUs only, and its all-reduced statistics are equal only up to rounding. The
  teacher (LayerNorm, eval) and the connector (1x1 conv) are per-sample anyway;
* the total loss is a mean of per-sample terms over the whole batch once DDP averages the
  ranks' gradients. The distillation loss is (cosine loss averaged over the batch: each rank
  averages over its B images, DDP averages the ranks: mean over 2B images). RetinaNet's
  focal and L1 losses are sums over anchors divided by the number of positive anchors *of
  the process* (mmdet's AnchorHead does not all-reduce this ``avg_factor``): averaging
  ``S_0 / n_0`` and ``S_1 / n_1`` equals ``(S_0 + S_1) / (n_0 + n_1)`` only when
  ``n_0 == n_1``. The data make that hold by construction: frames 2k and 2k + 1 share their
  boxes (so their anchors' assignment) but not their pixels, and they land on different
  ranks in the same step.

Gradient clipping sees the all-reduced gradient, so it clips the same way; the logged
``grad_norm`` of rank 0 is the norm of the averaged gradient and must match the single
process's, while rank 0's logged loss covers only its own half of the batch and must not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from dist_testing import (
    TOOLS,
    launch,
    make_paired_detection_set,
    scalars,
    write_tiny_distill_config,
)


def _load(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    # the Runner's own checkpoint (message hub, numpy scalars): trusted, written by this test
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {"student": ckpt["state_dict"], "connectors": ckpt["distill_state_dict"]}


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_total_batch(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    make_paired_detection_set(data_root, num_pairs=4)  # 8 frames: 2 iterations of 4
    per_rank = write_tiny_distill_config(tmp_path / "distill_2x2.py", data_root, batch_size=2)
    whole = write_tiny_distill_config(tmp_path / "distill_1x4.py", data_root, batch_size=4)
    two, one = tmp_path / "two_processes", tmp_path / "one_process"

    result = launch(
        ["bash", str(TOOLS / "dist_train.sh"), str(per_rank), "2", "--work-dir", str(two)]
    )
    log = result.stdout + result.stderr
    assert "2 CPU processes on the gloo backend (the config asks for 'nccl')" in log
    launch([sys.executable, str(TOOLS / "train.py"), str(whole), "--work-dir", str(one)])

    before = None
    for iteration in (1, 2):
        dist_ckpt = _load(two / f"iter_{iteration}.pth")
        single_ckpt = _load(one / f"iter_{iteration}.pth")
        for part in ("student", "connectors"):
            assert dist_ckpt[part].keys() == single_ckpt[part].keys()
            for key, value in single_ckpt[part].items():
                torch.testing.assert_close(
                    dist_ckpt[part][key], value, rtol=1e-5, atol=1e-6, msg=f"{part}.{key}"
                )
        if before is not None:
            # the comparison is sensitive: the second step moved the weights far more than
            # the tolerance (frozen stage 1 and BN statistics stay, the rest must move)
            moved = max(
                (single_ckpt["student"][k].float() - before[k].float()).abs().max().item()
                for k in before
            )
            assert moved > 1e-3
            assert not torch.equal(
                single_ckpt["student"]["bbox_head.retina_cls.weight"],
                before["bbox_head.retina_cls.weight"],
            )
        before = single_ckpt["student"]

    dist_log, single_log = scalars(two), scalars(one)
    for dist_step, single_step in zip(dist_log, single_log, strict=True):
        assert dist_step["grad_norm"] == pytest.approx(single_step["grad_norm"], rel=1e-5)
        # rank 0 logs the loss of its own 2 images: not the 4-image loss
        assert dist_step["loss"] != pytest.approx(single_step["loss"], rel=1e-5)
