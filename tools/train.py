"""Train a detector, tracker or distillation model from a config (mmdet's flags and behaviour).

Examples:
    python tools/train.py configs/tdt/retinanet_r34_embed.py
    python tools/train.py CONFIG --work-dir work_dirs/x --amp --cfg-options train_cfg.max_epochs=2
    python tools/train.py CONFIG --resume                # latest checkpoint in the work dir
    python tools/train.py CONFIG --resume path/to/epoch_1.pth
    bash tools/dist_train.sh CONFIG 8                    # torchrun, see docs/distributed.md
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime
import os.path as osp
import subprocess
from typing import Any

import torch
import torch.distributed as torch_dist
from mmdet.registry import MODEL_WRAPPERS, OPTIM_WRAPPERS
from mmengine.config import Config, DictAction
from mmengine.device import (
    is_cuda_available,
    is_mlu_available,
    is_musa_available,
    is_npu_available,
)
from mmengine.optim import AmpOptimWrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

import mmdistillmot  # noqa: F401  (registers components, safe checkpoint loading)
from mmdistillmot.utils import add_debug_flag, check_config_types, cli_errors


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a model with mmdistillmot")
    parser.add_argument("config", help="train config file path")
    parser.add_argument("--work-dir", help="the dir to save logs and models")
    parser.add_argument(
        "--amp", action="store_true", help="enable automatic-mixed-precision training"
    )
    parser.add_argument(
        "--auto-scale-lr",
        action="store_true",
        help="scale the learning rate by (GPUs x samples per GPU) / auto_scale_lr.base_batch_size",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        type=str,
        const="auto",
        help="resume from the given checkpoint, or with no value from the latest one in work_dir",
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config settings, e.g. train_cfg.max_epochs=2 (key=value pairs)",
    )
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    # torchrun passes LOCAL_RANK in the environment; torch.distributed.launch passes --local-rank
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line overrides, as mmdet's train.py does."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f"Config file '{args.config}' does not exist.")
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir", None) is None:
        cfg.work_dir = osp.join("./work_dirs", osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get("type", "OptimWrapper")
        if optim_wrapper == "AmpOptimWrapper":
            print("AMP is already enabled in the config.")
        else:
            cfg.optim_wrapper.type = "AmpOptimWrapper"
            cfg.optim_wrapper.loss_scale = "dynamic"
    if args.auto_scale_lr:
        # absent, None (a config removing its base's) or without base_batch_size
        scale = cfg.get("auto_scale_lr", None)
        if not isinstance(scale, dict) or "base_batch_size" not in scale:
            raise KeyError(
                f"{args.config}: --auto-scale-lr needs `auto_scale_lr = dict(enable=False, "
                "base_batch_size=N)` in the config (N = the batch the learning rate was set for)."
            )
        cfg.auto_scale_lr.enable = True
    check_amp_device(cfg, from_flag=args.amp)
    if args.resume == "auto":
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    check_config_types(cfg, args.config)
    return cfg


def _amp_wrappers(optim_wrapper: object) -> list[str]:
    """Names of the ``AmpOptimWrapper`` (or subclass) entries of an ``optim_wrapper`` config.

    The entry itself, or, for several optimizers (``MultiOptimWrapperConstructor``), each of
    its per-module entries. A type is a registered name (scoped or not) or a class; a name the
    registry does not know is left to the Runner to refuse.
    """
    if not isinstance(optim_wrapper, dict):
        return []
    entries = [optim_wrapper] if "type" in optim_wrapper else list(optim_wrapper.values())
    found = []
    for entry in entries:
        kind = entry.get("type") if isinstance(entry, dict) else None
        cls = OPTIM_WRAPPERS.get(kind) if isinstance(kind, str) else kind
        if isinstance(cls, type) and issubclass(cls, AmpOptimWrapper):
            found.append(cls.__name__)
    return found


def check_amp_device(cfg: Config, from_flag: bool = False) -> None:
    """Refuse mixed precision where mmengine's ``AmpOptimWrapper`` cannot run, in one line.

    ``AmpOptimWrapper`` (what ``--amp`` selects) asserts a CUDA, NPU, MLU or MUSA device when it
    is built, after the model and the data are, and stops with a bare ``AssertionError`` and its
    traceback. It does not run on the CPU, in float16 or bfloat16 alike.

    Args:
        cfg: The full config (the type of ``cfg.optim_wrapper``, or of each of its per-module
            wrappers, is read; subclasses of ``AmpOptimWrapper`` count).
        from_flag: The wrapper comes from ``--amp`` (named in the message).

    Raises:
        RuntimeError: ``AmpOptimWrapper`` is configured and no such device is available.
    """
    amp = _amp_wrappers(cfg.get("optim_wrapper"))
    if not amp:
        return
    if is_cuda_available() or is_npu_available() or is_mlu_available() or is_musa_available():
        return
    asked, remedy = (
        ("--amp", "train without --amp")
        if from_flag
        else (
            f"the config's {amp[0]}",
            "set optim_wrapper.type='OptimWrapper' (without loss_scale / dtype)",
        )
    )
    raise RuntimeError(
        f"{asked}: mixed-precision training (mmengine's AmpOptimWrapper) needs a CUDA, NPU, MLU "
        f"or MUSA device and none is available (it does not run on the CPU); {remedy}"
    )


#: Environment variables holding (rank, world size, local rank) under each launcher.
_LAUNCHER_RANK_VARS = {
    "pytorch": ("RANK", "WORLD_SIZE", "LOCAL_RANK"),
    "slurm": ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"),
    "mpi": ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"),
}


def _rank_env_from_launcher(launcher: str, port: int | None) -> tuple[int, int]:
    """Rank and world size under ``launcher``; exports torchrun's variables for the rest.

    torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; slurm and Open MPI
    name them differently, and MMEngine (whose init code needs CUDA) would translate them as
    done here: slurm's first node is the master unless MASTER_ADDR is set, the port is
    ``dist_cfg.port``, else MASTER_PORT, else 29500.
    """
    env = os.environ
    names = _LAUNCHER_RANK_VARS[launcher]
    missing = [name for name in names if name not in env]
    if missing:
        raise KeyError(f"--launcher {launcher} needs the environment variables {missing}")
    rank, world, local = (env[name] for name in names)
    if "MASTER_ADDR" not in env:
        if launcher != "slurm":
            raise KeyError(f"--launcher {launcher} needs the environment variable MASTER_ADDR")
        nodes = env["SLURM_NODELIST"]
        env["MASTER_ADDR"] = subprocess.getoutput(f"scontrol show hostname {nodes} | head -n1")
    if port is not None:
        env["MASTER_PORT"] = str(port)
    env.setdefault("MASTER_PORT", "29500")
    env.update(RANK=rank, WORLD_SIZE=world, LOCAL_RANK=local)
    return int(rank), int(world)


def setup_cpu_distributed(cfg: Config) -> str | None:
    """Start CPU processes on gloo when a launcher is set and CUDA is absent.

    MMEngine 0.10.7 cannot do it itself, whatever ``env_cfg.dist_cfg.backend`` says: its
    ``init_dist`` calls ``torch.cuda.set_device(LOCAL_RANK)`` before creating the process
    group ("Found no NVIDIA driver"), and its DDP wrapper passes ``device_ids=[LOCAL_RANK]``,
    which DDP refuses for a module on the CPU. So, with no CUDA device, this creates the gloo
    process group (the Runner then skips its own initialisation) and sets
    ``model_wrapper_cfg.device_ids=None``, keeping the config's other wrapper settings and
    ``find_unused_parameters``. With CUDA, or without a launcher, nothing changes.

    Args:
        cfg: The full config; ``cfg.launcher`` must be set. ``cfg.model_wrapper_cfg`` may be
            added or completed.

    Returns:
        A line for the log saying what was switched, or None when nothing was.

    Raises:
        ValueError: ``sync_bn`` is set: torch's SyncBatchNorm trains on GPUs only.
    """
    if cfg.launcher == "none" or torch.cuda.is_available() or torch_dist.is_initialized():
        return None
    if cfg.get("sync_bn", None) is not None:
        raise ValueError(
            f"sync_bn={cfg.sync_bn!r} needs GPUs (torch's SyncBatchNorm refuses CPU tensors in "
            "training); drop it for CPU processes with --cfg-options sync_bn=None"
        )
    dist_cfg = dict(cfg.get("env_cfg", {}).get("dist_cfg", {}))
    rank, world = _rank_env_from_launcher(cfg.launcher, dist_cfg.get("port"))
    timeout = dist_cfg.get("timeout")
    kwargs: dict[str, Any] = (
        {} if timeout is None else {"timeout": datetime.timedelta(seconds=timeout)}
    )
    torch_dist.init_process_group(backend="gloo", rank=rank, world_size=world, **kwargs)

    wrapper = cfg.get("model_wrapper_cfg", None)
    if wrapper is None:
        # What the Runner builds when model_wrapper_cfg is absent, without the GPU device id.
        wrapper = dict(
            type="MMDistributedDataParallel",
            broadcast_buffers=False,
            find_unused_parameters=cfg.get("find_unused_parameters", False),
        )
    wrapper_type = wrapper.get("type", "MMDistributedDataParallel")
    wrapper_cls = (
        MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) else wrapper_type
    )
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper.setdefault("device_ids", None)
    cfg.model_wrapper_cfg = wrapper
    return (
        f"CUDA is not available: {world} CPU processes on the gloo backend (the config asks "
        f"for {dist_cfg.get('backend', 'nccl')!r}), DDP without device_ids."
    )


def shutdown_distributed() -> None:
    """Destroy the process group after a run that ended normally.

    Without it, gloo's worker threads outlive the interpreter's finalisation and a process
    that finished its work aborts at exit ("terminate called without an active exception",
    SIGABRT; pytorch/pytorch#190489), which torchrun reports as a failed run. Only on success:
    destroying the group while another rank is still inside a collective would hang.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # a bad input (missing or mismatched weight file, unknown config type ...): one line, exit 1
    with cli_errors(args.debug):
        cfg = build_config(args)
        notice = setup_cpu_distributed(cfg)
        if "runner_type" in cfg:
            runner = RUNNERS.build(cfg)
        else:
            runner = Runner.from_cfg(cfg)
        if notice is not None:
            runner.logger.warning(notice)
        runner.train()
    shutdown_distributed()


if __name__ == "__main__":
    main()
