"""Write a torchreid-format weight file from a TorchreidClassifier training checkpoint.

The result is a plain ``state_dict`` with torchreid's key names (what torchreid's model zoo
ships), so ``OSNetTeacher(weights=OUT)`` loads it like any real torchreid release.

Example:
    python tools/distill/export_reid_teacher.py work_dirs/osnet/epoch_3.pth osnet_synthetic.pth
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

import mmdistillmot  # noqa: F401  (safe checkpoint loading)
from mmdistillmot.compat import safe_load_checkpoint

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
    args = parser.parse_args(argv)
    try:
        count = export(args.checkpoint, args.out)
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f"error: {err}")
    print(f"wrote {count} tensors to {args.out}")


if __name__ == "__main__":
    main()
