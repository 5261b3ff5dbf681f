r"""Convert a CrowdHuman ``.odgt`` annotation file into a COCO detection file (full-body boxes).

CrowdHuman's ``annotation_{train,val}.odgt`` holds one JSON record per line::

    {"ID": "273271,c9db000d5146c15", "gtboxes": [
        {"tag": "person", "fbox": [x, y, w, h], "vbox": [...], "hbox": [...],
         "extra": {"box_id": 0, "occ": 1, "ignore": 0}, ...}, ...]}

Every box becomes a COCO annotation with its *full-body* box (``fbox``, which may reach past
the image border: the amodal extent of a partly visible person, as MOT ground truth has it).
Regions that must not count as positives or negatives become ``iscrowd=1`` boxes, which mmdet's
``CocoDataset`` turns into ignored boxes and the teacher extraction skips: ``tag == "mask"``
(crowds, reflections, posters) and boxes with ``extra.ignore == 1``. The visible box is kept as
``vbox`` for reference. Image sizes are read from the image headers.

Examples:
    python tools/dataset_converters/crowdhuman_to_coco.py data/CrowdHuman/annotation_train.odgt \
        data/CrowdHuman -o data/CrowdHuman/annotations/train.json
"""

from __future__ import annotations

import os

# Before torch is imported (OpenMP reads it once): idle OpenMP threads sleep instead of spinning
# on every core; ``make`` exports the same, this covers running the tool directly.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import os.path as osp
import sys
from typing import Any

from PIL import Image
from tqdm import tqdm

from mmdistillmot.utils import CLI_ERRORS, add_debug_flag, cli_error_status

#: Tags of CrowdHuman boxes: a person, or a region to ignore.
PERSON_TAG = "person"
IGNORE_TAG = "mask"


class CrowdHumanFormatError(ValueError):
    """A malformed odgt record (the message names ``file:line``)."""


def _box(value: Any, where: str, key: str) -> list[float]:
    """A ``[x, y, w, h]`` list of 4 finite numbers, or an error naming the record and key."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise CrowdHumanFormatError(f"{where}: '{key}' must be [x, y, w, h], got {value!r}.")
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        raise CrowdHumanFormatError(
            f"{where}: '{key}' has a non-numeric value: {value!r}."
        ) from None
    if not all(math.isfinite(v) for v in box):
        raise CrowdHumanFormatError(f"{where}: '{key}' has a non-finite value: {value!r}.")
    return box


def read_odgt(path: str) -> list[tuple[int, dict[str, Any]]]:
    """Read the records of an odgt file with their line numbers.

    Args:
        path: The ``.odgt`` file.

    Returns:
        ``(line number, record)`` pairs, empty lines skipped.

    Raises:
        CrowdHumanFormatError: A line that is not a JSON object with ``ID`` and ``gtboxes``.
    """
    records = []
    with open(path, encoding="utf-8") as file:
        for line_no, line in enumerate(file, start=1):
            text = line.strip()
            if not text:
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise CrowdHumanFormatError(f"{where}: not valid JSON ({err.msg}).") from None
            if not isinstance(record, dict) or not isinstance(record.get("ID"), str):
                raise CrowdHumanFormatError(f"{where}: a record needs a string 'ID'.")
            if not isinstance(record.get("gtboxes", []), list):
                raise CrowdHumanFormatError(f"{where}: 'gtboxes' must be a list.")
            records.append((line_no, record))
    return records


def convert(
    odgt: str, data_root: str, image_prefix: str = "Images", image_suffix: str = ".jpg"
) -> tuple[dict[str, Any], dict[str, int]]:
    """Convert one odgt file to a COCO dict.

    Args:
        odgt: The annotation file.
        data_root: Root that ``file_name`` is relative to.
        image_prefix: Folder of the images under ``data_root``.
        image_suffix: Image file suffix.

    Returns:
        The COCO dict and counts (``person``, ``ignore``, ``degenerate`` boxes skipped).

    Raises:
        CrowdHumanFormatError: Malformed records or boxes (``file:line``).
        FileNotFoundError: An image of a record is missing.
    """
    images, annotations = [], []
    counts = {"person": 0, "ignore": 0, "degenerate": 0}
    records = read_odgt(odgt)
    seen: dict[str, int] = {}
    for image_id, (line_no, record) in enumerate(tqdm(records, desc="CrowdHuman", unit="img"), 1):
        where = f"{odgt}:{line_no}"
        if record["ID"] in seen:
            raise CrowdHumanFormatError(
                f"{where}: image ID {record['ID']!r} repeats line {seen[record['ID']]}."
            )
        seen[record["ID"]] = line_no
        file_name = osp.join(image_prefix, record["ID"] + image_suffix)
        image_path = osp.join(data_root, file_name)
        if not osp.isfile(image_path):
            raise FileNotFoundError(f"{where}: image '{image_path}' not found.")
        with Image.open(image_path) as image:  # reads the header only
            width, height = image.size
        images.append(dict(id=image_id, file_name=file_name, width=width, height=height))
        for index, gtbox in enumerate(record.get("gtboxes", [])):
            box_where = f"{where} gtboxes[{index}]"
            if not isinstance(gtbox, dict):
                raise CrowdHumanFormatError(f"{box_where}: expected an object, got {gtbox!r}.")
            tag = gtbox.get("tag")
            if tag not in (PERSON_TAG, IGNORE_TAG):
                raise CrowdHumanFormatError(
                    f"{box_where}: tag must be '{PERSON_TAG}' or '{IGNORE_TAG}', got {tag!r}."
                )
            x, y, w, h = _box(gtbox.get("fbox"), box_where, "fbox")
            if w <= 0 or h <= 0:
                counts["degenerate"] += 1
                continue
            extra = gtbox.get("extra") or {}
            ignore = tag == IGNORE_TAG or int(extra.get("ignore", 0)) == 1
            counts["ignore" if ignore else "person"] += 1
            annotation = dict(
                id=len(annotations) + 1,
                image_id=image_id,
                category_id=1,
                bbox=[x, y, w, h],
                area=w * h,
                iscrowd=int(ignore),
            )
            if "vbox" in gtbox:
                annotation["vbox"] = _box(gtbox["vbox"], box_where, "vbox")
            annotations.append(annotation)
    coco = dict(images=images, annotations=annotations, categories=[dict(id=1, name="pedestrian")])
    return coco, counts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("odgt", help="CrowdHuman annotation_{train,val}.odgt")
    parser.add_argument("data_root", help="root the COCO file_name is relative to")
    parser.add_argument("-o", "--out", required=True, help="COCO json to write")
    parser.add_argument("--image-prefix", default="Images", help="image folder under data_root")
    parser.add_argument("--image-suffix", default=".jpg", help="image file suffix")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_debug_flag(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = osp.abspath(args.out)
    try:
        if out == osp.abspath(args.odgt):
            raise CrowdHumanFormatError(f"output '{args.out}' is the input file.")
        if osp.exists(out) and not args.overwrite:
            raise FileExistsError(f"'{args.out}' exists; pass --overwrite to replace it.")
        coco, counts = convert(args.odgt, args.data_root, args.image_prefix, args.image_suffix)
        os.makedirs(osp.dirname(out) or ".", exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "w") as file:
            json.dump(coco, file)
        os.replace(tmp, out)  # never a half-written file under the final name
    except CLI_ERRORS as err:  # CrowdHumanFormatError, FileNotFoundError, FileExistsError ...
        return cli_error_status(err, args.debug)
    print(
        f"wrote {len(coco['images'])} images, {counts['person']} person boxes and "
        f"{counts['ignore']} ignore (iscrowd) boxes to {args.out}; "
        f"{counts['degenerate']} boxes of zero size skipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
