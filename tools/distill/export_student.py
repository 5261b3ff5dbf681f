"""Turn a distillation checkpoint into a plain student checkpoint.

The output holds the student's weights under the names the plain student config uses (the
``student.`` prefix removed), no teacher weights, no connectors, and no optimizer or scheduler
state (they belong to the distillation run). ``meta`` is kept, with ``meta['distill']`` saying
what was removed. Load it with the baseline config: ``load_from=OUT`` or
``tools/test.py BASELINE_CONFIG OUT``.

Example:
    python tools/distill/export_student.py work_dirs/fairmot_dinov2/epoch_20.pth \
        work_dirs/fairmot_dinov2/student_epoch_20.pth
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch

from mmdistillmot.compat import safe_load_checkpoint
from mmdistillmot.models.distillers.student_checkpoint import (
    DISTILL_STATE_KEY,
    to_student_checkpoint,
)
from mmdistillmot.utils import add_debug_flag, cli_errors

#: Entries of a runner checkpoint that describe the training run, not the student.
RUN_STATE_KEYS = ("optimizer", "param_schedulers", "message_hub", "ema_state_dict")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export the student of a distillation checkpoint")
    parser.add_argument("input", help="checkpoint written while training a FeatureDistiller")
    parser.add_argument("output", help="where to write the student-only checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def export_student(input_path: str, output_path: str, overwrite: bool = False) -> dict:
    """Write the student-only version of ``input_path`` to ``output_path``.

    Args:
        input_path: A FeatureDistiller checkpoint (full, or already student-only from
            DistillHook).
        output_path: Destination; never the input file.
        overwrite: Allow replacing an existing ``output_path``.

    Returns:
        The written checkpoint (``meta`` and ``state_dict``).

    Raises:
        FileNotFoundError: The input does not exist.
        FileExistsError: The output exists (without ``overwrite``) or is the input itself.
    """
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"Checkpoint '{input_path}' does not exist.")
    if os.path.exists(output_path) and os.path.samefile(input_path, output_path):
        raise FileExistsError(f"Refusing to write over the input checkpoint '{input_path}'.")
    if os.path.exists(output_path) and not overwrite:
        raise FileExistsError(f"'{output_path}' exists; pass --overwrite to replace it.")
    checkpoint = safe_load_checkpoint(input_path, map_location="cpu")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise KeyError(f"'{input_path}' is not a runner checkpoint (no 'state_dict' entry).")
    to_student_checkpoint(checkpoint)
    exported = {
        "meta": checkpoint.get("meta", {}),
        "state_dict": checkpoint["state_dict"],
    }
    removed = [k for k in (*RUN_STATE_KEYS, DISTILL_STATE_KEY) if k in checkpoint]
    if isinstance(exported["meta"], dict):
        exported["meta"].setdefault("distill", {})["exported_from"] = os.path.abspath(input_path)
        exported["meta"]["distill"]["removed_entries"] = removed
    out_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(exported, output_path)
    return exported


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with cli_errors(args.debug):
        exported = export_student(args.input, args.output, overwrite=args.overwrite)
    n = len(exported["state_dict"])
    params = sum(v.numel() for v in exported["state_dict"].values() if v.is_floating_point())
    print(f"wrote {args.output}: {n} student tensors ({params / 1e6:.2f} M values), no teacher")


if __name__ == "__main__":
    main()
