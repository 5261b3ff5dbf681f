"""Write a torchreid-format weight file from a TorchreidClassifier training checkpoint.

The result is a plain ``state_dict`` with torchreid's key names (what torchreid's model zoo
ships), so ``OSNetTeacher(weights=OUT)`` loads it like any real torchreid release.

Example:
    python tools/distill/export_reid_teacher.py work_dirs/osnet/epoch_3.pth osnet_synthetic.pth
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch

import mmdistillmot  # noqa: F401  (safe checkpoint loading)
from mmdistillmot.compat import safe_load_checkpoint
from mmdistillmot.utils import add_debug_flag, cli_errors

PREFIX = "net."


def export(checkpoint_path: str, out_path: str) -> int:
    """Strip the classifier wrapper's ``net.`` prefix and save; return the number of tensors."""
    checkpoint = safe_load_checkpoint(checkpoint_path, map_location="cpu")
    state_dict = checkpoint.get("state_dict", checkpoint)
    weights = {k[len(PREFIX) :]: v for k, v in state_dict.items() if k.startswith(PREFIX)}
    if not weights:
        raise KeyError(
            f"{checkpoint_path}: no '{PREFIX}*' keys; is this a TorchreidClassifier checkpoint?"
        )
    if os.path.abspath(out_path) == os.path.abspath(checkpoint_path):
        raise ValueError("refusing to overwrite the training checkpoint; choose another OUT")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    torch.save(weights, out_path)
    return len(weights)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="TorchreidClassifier checkpoint (tools/train.py)")
    parser.add_argument("out", help="torchreid-format weight file to write")
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    with cli_errors(args.debug):
        count = export(args.checkpoint, args.out)
    print(f"wrote {count} tensors to {args.out}")


if __name__ == "__main__":
    main()
