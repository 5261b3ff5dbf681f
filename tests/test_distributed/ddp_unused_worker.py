"""Worker of ``test_ddp_unused_parameters.py``: real DDP on gloo, with and without detection.

Run under ``torchrun --nproc_per_node 2``. For each scenario it wraps a small model of the
family in ``DistributedDataParallel`` (CPU, no device ids), trains 2 iterations and records
whether DDP accepted it; rank 0 writes ``{scenario: "ok" | error message}`` to ``argv[1]``.
The scenarios that must succeed run first: a DDP error leaves that wrapper unusable (the
process group stays usable, and every rank fails at the same point).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_ddp_parameter_usage as usage  # noqa: E402

LossFn = Callable[[torch.nn.Module], dict]


def distillation_stopped() -> tuple[torch.nn.Module, LossFn]:
    """FairMOT + tiny DINOv2 after DistillHook's ``stop_at``: the connectors go unused."""
    model, _ = usage._fairmot_dinov2(distilling=False)
    images, samples = usage._frames(2)
    return model, lambda wrapped: usage._fairmot_losses(wrapped, images, samples)


def motrv2() -> tuple[torch.nn.Module, LossFn]:
    """Tiny MOTRv2 on a 3-frame clip whose people appear in its last frame (QIM unused)."""
    model, _ = usage.case_motrv2()
    helpers = usage._motrv2_helpers()
    inputs, samples = usage.motrv2_clip_entering_a_scene(helpers)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), True)
    return model, lambda wrapped: wrapped(**data, mode="loss")


def train_two_iterations(build: Callable[[], tuple[torch.nn.Module, LossFn]], find: bool) -> str:
    model, losses_of = build()
    model.zero_grad(set_to_none=True)
    wrapped = DistributedDataParallel(
        model, device_ids=None, broadcast_buffers=False, find_unused_parameters=find
    )
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    try:
        for _ in range(2):
            losses = losses_of(wrapped)
            total = sum(v for k, v in losses.items() if "loss" in k)
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
    except RuntimeError as err:
        return str(err)
    return "ok"


def main() -> None:
    dist.init_process_group("gloo")
    results = {}
    for find in (True, False):
        for name, build in (("distillation_stopped", distillation_stopped), ("motrv2", motrv2)):
            results[f"{name}/find_unused={find}"] = train_two_iterations(build, find)
    if dist.get_rank() == 0:
        Path(sys.argv[1]).write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
