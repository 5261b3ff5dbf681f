r"""Convert JDE / FairMOT "MIX" image lists with ``labels_with_ids`` into one COCO detection file.

TDT trains on the JDE training sets with their *detection* labels only: this converter keeps the
boxes and drops the identities. Parsing (list files, ``images`` -> ``labels_with_ids`` paths,
the ``class identity cx cy w h`` lines and their checks) is the project's JDE MIX reader,
:class:`mmdistillmot.datasets.jde_mix_dataset.JDEMixDataset`, so a malformed label is reported
with its ``file:line`` exactly as during FairMOT training.

Output (COCO): ``images`` (id, file_name relative to DATA_ROOT, width, height), ``annotations``
(id, image_id, category_id 1, bbox ``[x, y, w, h]`` in pixels, area, iscrowd 0), one category
``pedestrian``. Images without a label file are kept with no boxes (JDE's convention).

Examples:
    python tools/dataset_converters/jde_to_coco.py data/JDE data/JDE/lists/eth.train \
        -o data/JDE/annotations/eth.json
    # several lists into one file
    python tools/dataset_converters/jde_to_coco.py data/JDE lists/prw.train lists/cuhksysu.train \
        -o data/JDE/annotations/prw_cuhksysu.json
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import os.path as osp
import sys
from pathlib import Path
from typing import Any

from mmengine.logging import print_log

from mmdistillmot.datasets.jde_mix_dataset import JDEMixDataset
from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

#: Decimals kept for box coordinates (pixels).
BOX_DECIMALS = 3


class ConversionError(RuntimeError):
    """Bad input or output path; the message names the file."""


def read_jde_lists(
    data_root: str,
    list_files: list[str],
    image_dir: str = "images",
    label_dir: str = "labels_with_ids",
) -> list[dict[str, Any]]:
    """Read the images and pixel boxes of JDE lists with the project's JDE MIX reader.

    Args:
        data_root: Root the listed image paths are relative to.
        list_files: ``*.train`` lists (absolute, or relative to ``data_root``).
        image_dir: Image directory name in the listed paths.
        label_dir: Label directory name.

    Returns:
        One data info per listed image (``img_path``, ``width``, ``height``, ``instances`` with
        ``bbox`` ``[x1, y1, x2, y2]`` pixels), in list order.

    Raises:
        FileNotFoundError: A list file or an image is missing.
        LabelFormatError: A label line is malformed (``file:line`` in the message).
        ConversionError: Two list files have the same name.
    """
    names: dict[str, str] = {}
    for path in list_files:
        name = Path(path).name
        if name in names:
            raise ConversionError(f"list file named '{name}' given twice ({names[name]}, {path}).")
        names[name] = path
    dataset = JDEMixDataset(
        list_files=names,
        data_root=data_root,
        image_dir=image_dir,
        label_dir=label_dir,
        test_mode=True,  # keep images without boxes
        serialize_data=False,
        pipeline=[],
    )
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def to_coco(infos: list[dict[str, Any]], data_root: str) -> dict[str, Any]:
    """Build a COCO detection dict (no identities) from JDE data infos.

    Args:
        infos: Data infos from :func:`read_jde_lists`.
        data_root: Root that ``file_name`` is made relative to.

    Returns:
        The COCO dict.
    """
    images, annotations = [], []
    for image_id, info in enumerate(infos, start=1):
        images.append(
            dict(
                id=image_id,
                file_name=osp.relpath(info["img_path"], data_root),
                width=int(info["width"]),
                height=int(info["height"]),
            )
        )
        for instance in info["instances"]:
            x1, y1, x2, y2 = instance["bbox"]
            w, h = x2 - x1, y2 - y1
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=1,
                    bbox=[round(v, BOX_DECIMALS) for v in (x1, y1, w, h)],
                    area=round(w * h, BOX_DECIMALS),
                    iscrowd=0,
                )
            )
    return dict(
        images=images,
        annotations=annotations,
        categories=[dict(id=1, name="pedestrian")],
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root", help="root the listed image paths are relative to")
    parser.add_argument("lists", nargs="+", help="JDE image lists (*.train), relative to data_root")
    parser.add_argument("-o", "--out", required=True, help="COCO json to write")
    parser.add_argument("--image-dir", default="images", help="image directory name in the lists")
    parser.add_argument("--label-dir", default="labels_with_ids", help="label directory name")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = osp.abspath(args.out)
    try:
        if not osp.isdir(args.data_root):
            raise ConversionError(f"data root '{args.data_root}' is not a directory.")
        sources = {
            osp.abspath(p if osp.isabs(p) else osp.join(args.data_root, p)) for p in args.lists
        }
        if out in sources:
            raise ConversionError(f"output '{args.out}' is one of the input lists.")
        if osp.exists(out) and not args.overwrite:
            raise ConversionError(f"'{args.out}' exists; pass --overwrite to replace it.")
        infos = read_jde_lists(args.data_root, args.lists, args.image_dir, args.label_dir)
        coco = to_coco(infos, args.data_root)
        os.makedirs(osp.dirname(out) or ".", exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "w") as file:
            json.dump(coco, file)
        os.replace(tmp, out)  # never a half-written file under the final name
    except CLI_ERRORS as err:  # ConversionError, LabelFormatError, FileNotFoundError ...
        return cli_error_status(err, args.debug)
    print_log(
        f"wrote {len(coco['images'])} images and {len(coco['annotations'])} boxes "
        f"(identities dropped) to {args.out}",
        logger="current",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
