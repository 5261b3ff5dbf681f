"""CocoVID annotation files from MOTChallenge-layout sequences, following mmdet's ``mot2coco``.

Used by the synthetic generator (one file per split) and the low-quality dataset builder (files
that mix degraded and original copies of sequences).

mmdet's ``MOTChallengeDataset`` reads CocoVID json: ``videos``, ``images`` (``file_name``,
``height``, ``width``, ``id``, ``video_id``, ``frame_id`` from 0, ``mot_frame_id`` from 1),
``annotations`` (``id``, ``image_id``, ``video_id``, ``category_id``, ``instance_id``, ``bbox`` as
``[x, y, w, h]``, ``area``, ``iscrowd``, ``visibility``, ``mot_instance_id``, ``mot_conf``) and
``categories``. As in ``mot2coco``, ``instance_id`` counts from 0 and is unique over the whole
split (the MOT id is unique only within its sequence), ids of videos, images and annotations
count from 1, and ``num_instances`` gives the number of instances.

Unlike ``mot2coco``, ``file_name`` is relative to the dataset root and includes the split
(``train/SEQ/img1/000001.jpg``), so one ``data_prefix=dict(img_path=ROOT)`` serves every split;
mmdet's ``MOTChallengeMetric`` takes the sequence name from the third-last path part, which is
unchanged. Categories list only the MOTChallenge classes that occur (``pedestrian`` alone for
the synthetic data), or all 13 as ``mot2coco`` does (``categories='all'``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from mmdistillmot.datasets.mot_files import MOTFormatError, read_mot_file, read_seqinfo

__all__ = [
    "MOT_CLASSES",
    "mot_split_to_cocovid",
    "sequence_to_cocovid",
    "sequences_to_cocovid",
    "write_cocovid",
]

#: MOTChallenge (MOT16/17/20) class ids and names.
MOT_CLASSES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}


def sequence_to_cocovid(
    seq_dir: str | Path, prefix: str
) -> tuple[dict, list[dict], list[list[dict]]]:
    """Reads one MOTChallenge-layout sequence as a CocoVID video, its images and annotations.

    Ids (of the video, images, annotations and instances) are left to
    :func:`sequences_to_cocovid`, which numbers them over the whole file.

    Args:
        seq_dir: The sequence folder (``seqinfo.ini``, the image folder, optional
            ``gt/gt.txt``); ``seqinfo.ini``'s ``name`` must equal the folder name.
        prefix: Start of every image ``file_name``: ``<prefix>/<imDir>/<image>``.

    Returns:
        ``(video, images, annotations)``: the video's ``name``/``fps``/``width``/``height``;
        its images in frame order; per image, its ground-truth boxes sorted by MOT id (with
        ``mot_instance_id``; empty lists when the sequence has no ``gt/gt.txt``).

    Raises:
        MOTFormatError: On a malformed ``seqinfo.ini`` or ``gt.txt``, a ``name`` that differs
            from the folder, an image count that differs from ``seqLength``, an image name that
            is not a frame number, or a ground truth row outside the image or the frame range.
    """
    seq = Path(seq_dir)
    info_path = seq / "seqinfo.ini"
    info = read_seqinfo(info_path)
    if info.name != seq.name:
        raise MOTFormatError(
            info_path, None, f"name={info.name} differs from the folder name {seq.name}"
        )
    img_dir = seq / info.im_dir
    names = sorted(p.name for p in img_dir.glob(f"*{info.im_ext}"))
    if len(names) != info.seq_length:
        raise MOTFormatError(
            info_path,
            None,
            f"seqLength={info.seq_length} but {img_dir} holds {len(names)} '{info.im_ext}' images",
        )
    video = dict(name=seq.name, fps=info.frame_rate, width=info.im_width, height=info.im_height)
    gt_path = seq / "gt" / "gt.txt"
    gt = None
    if gt_path.is_file():
        gt = read_mot_file(gt_path, "gt", image_size=(info.im_width, info.im_height))
        if len(gt) and int(gt.rows["frame"].max()) > info.seq_length:
            bad = gt.rows[gt.rows["frame"] > info.seq_length][0]
            raise MOTFormatError(
                gt_path,
                int(bad["line"]),
                f"frame {int(bad['frame'])} is beyond seqLength={info.seq_length}",
            )
    images: list[dict] = []
    annotations: list[list[dict]] = []
    for frame_id, name in enumerate(names):
        stem = Path(name).stem
        if not stem.isdigit():
            raise MOTFormatError(img_dir / name, None, "image name is not a frame number")
        images.append(
            dict(
                file_name=f"{prefix}/{info.im_dir}/{name}",
                height=info.im_height,
                width=info.im_width,
                frame_id=frame_id,
                mot_frame_id=int(stem),
            )
        )
        frame_anns: list[dict] = []
        if gt is not None:
            rows = gt.rows_of_frame(int(stem))
            mot16 = gt.style == "mot16"  # MOT15 gt has no class, flag or visibility column
            for row in rows[rows["id"].argsort(kind="stable")]:
                x, y, w, h = (float(row[k]) for k in ("x", "y", "w", "h"))
                frame_anns.append(
                    dict(
                        category_id=int(row["class_id"]) if mot16 else 1,
                        bbox=[x, y, w, h],
                        area=w * h,
                        iscrowd=0,
                        visibility=float(row["visibility"]) if mot16 else 1.0,
                        mot_instance_id=int(row["id"]),
                        mot_conf=float(row["conf"]) if mot16 else 1.0,
                    )
                )
        annotations.append(frame_anns)
    return video, images, annotations


def sequences_to_cocovid(
    entries: Sequence[tuple[str | Path, str]], categories: str = "used"
) -> dict:
    """One CocoVID dictionary over several sequences (see the module docstring).

    Args:
        entries: ``(sequence folder, file-name prefix)`` pairs, in video order; image
            ``file_name`` is ``<prefix>/<imDir>/<image>``.
        categories: ``'used'`` lists only the MOTChallenge classes that occur (``pedestrian``
            when none does); ``'all'`` lists all 13, as mmdet's ``mot2coco`` does.

    Returns:
        Dict with ``videos``, ``images``, ``annotations``, ``categories``, ``num_instances``.

    Raises:
        ValueError: ``categories`` is neither ``'used'`` nor ``'all'``.
        MOTFormatError: see :func:`sequence_to_cocovid`.
    """
    if categories not in ("used", "all"):
        raise ValueError(f"categories must be 'used' or 'all', got {categories!r}")
    videos: list[dict] = []
    images: list[dict] = []
    annotations: list[dict] = []
    used_classes: set[int] = set()
    instance_count = 0
    for video_id, (seq_dir, prefix) in enumerate(entries, start=1):
        video, seq_images, seq_annotations = sequence_to_cocovid(seq_dir, prefix)
        videos.append(dict(id=video_id, **video))
        instance_of: dict[int, int] = {}  # MOT ids repeat across sequences
        for image, frame_anns in zip(seq_images, seq_annotations):
            image_id = len(images) + 1
            images.append(dict(id=image_id, video_id=video_id, **image))
            for ann in frame_anns:
                if ann["mot_instance_id"] not in instance_of:
                    instance_of[ann["mot_instance_id"]] = instance_count
                    instance_count += 1
                used_classes.add(ann["category_id"])
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=image_id,
                        video_id=video_id,
                        category_id=ann["category_id"],
                        instance_id=instance_of[ann["mot_instance_id"]],
                        **{k: v for k, v in ann.items() if k != "category_id"},
                    )
                )
    class_ids = sorted(MOT_CLASSES) if categories == "all" else sorted(used_classes or {1})
    return dict(
        videos=videos,
        images=images,
        annotations=annotations,
        categories=[dict(id=cid, name=MOT_CLASSES.get(cid, f"class_{cid}")) for cid in class_ids],
        num_instances=instance_count,
    )


def mot_split_to_cocovid(root: str | Path, split: str) -> dict:
    """Converts every sequence of ``root/split`` to one CocoVID dictionary.

    Args:
        root: Dataset root; ``file_name`` entries are relative to it
            (``<split>/<sequence>/<imDir>/<image>``).
        split: Sub-folder holding the sequences, e.g. ``'train'``.

    Returns:
        The CocoVID dictionary of :func:`sequences_to_cocovid` (used categories only).
        Sequences without ``gt/gt.txt`` contribute videos and images only.

    Raises:
        FileNotFoundError: When the split folder has no sequences.
        MOTFormatError: see :func:`sequence_to_cocovid`.
    """
    split_dir = Path(root) / split
    seqs = sorted(p for p in split_dir.iterdir() if p.is_dir()) if split_dir.is_dir() else []
    if not seqs:
        raise FileNotFoundError(f"no sequences found in {split_dir}")
    return sequences_to_cocovid([(seq, f"{split}/{seq.name}") for seq in seqs])


def write_cocovid(root: str | Path, split: str, out_file: str | Path) -> dict:
    """Converts ``root/split`` with :func:`mot_split_to_cocovid` and writes it as json.

    The file is written through a temporary name, so a failure leaves no partial json.

    Args:
        root: Dataset root.
        split: Split folder name.
        out_file: Output json path; parent folders are created.

    Returns:
        The written dictionary.
    """
    data = mot_split_to_cocovid(root, split)
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    tmp.replace(out_file)
    return data
