"""Convert MOTRv2's COCO Deformable DETR start into this repo's MOTRv2 layout (``load_from``).

The source is the Deformable DETR checkpoint MOTRv2 trains from (``--pretrained``):
``r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth`` of the Deformable DETR
release (ResNet-50, iterative box refinement, COCO). Every key is mapped by an explicit rule and
checked, name and shape, against the model that ``--config`` builds; the class heads keep COCO's
person row; see :mod:`mmdistillmot.models.model_converters.deformable_detr_motrv2`.

Example:
    python tools/model_converters/deformable_detr_to_motrv2.py \
        r50_deformable_detr_plus_iterative_bbox_refinement-checkpoint.pth \
        checkpoints/pretrained/motrv2_r50_deformable_detr_coco.pth
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys
from pathlib import Path

from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdistillmot  # noqa: F401  (registers MOTRv2, safe checkpoint loading)
from mmdistillmot.models.model_converters.deformable_detr_motrv2 import (
    convert_deformable_detr_file,
    summarize,
)
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs/motrv2/motrv2_r50_mot17.py"


def main(argv: list[str] | None = None) -> int:
    """Run the converter; return the exit status (0 on success, 1 on a bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="the Deformable DETR checkpoint (box refinement, R50)")
    parser.add_argument("out", help="the MOTRv2 checkpoint to write")
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="the MOTRv2 config to check the keys against (default: motrv2_r50_mot17.py; a "
        "VSD-MOT config checks its student)",
    )
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        from mmdet.registry import MODELS

        init_default_scope("mmdet")
        model_cfg = Config.fromfile(args.config).model
        if model_cfg.type == "VSDMOT":
            model_cfg = model_cfg.student
        model = MODELS.build(model_cfg)
        conversion, new = convert_deformable_detr_file(
            args.src, args.out, model.state_dict(), num_classes=model_cfg.num_classes
        )
    except CLI_ERRORS as err:  # each names the file or key; one line
        return cli_error_status(err, args.debug)
    for line in summarize(conversion, new):
        print(line)
    print(f"wrote {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
