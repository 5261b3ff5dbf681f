"""Readers and writers for MOTChallenge text files (``gt.txt``, ``det.txt``, results, seqinfo).

One place in the project parses these files, so every tool reports a bad line the same way:
``MOTFormatError: path/gt/gt.txt:17: ...`` naming the file, the 1-based line and what is wrong.

File layouts (comma separated; whitespace around values and whitespace-only separators are
accepted, blank lines are skipped, an empty file is valid and has no rows):

* MOT15-style ground truth, 10 columns:
  ``frame, id, x, y, w, h, conf, wx, wy, wz`` (world coordinates, or -1 when unknown).
* MOT16/17/20-style ground truth, 9 columns:
  ``frame, id, x, y, w, h, active, class, visibility``.
* Tracker results and detections, 7 to 10 columns:
  ``frame, id, x, y, w, h, conf[, wx, wy[, wz]]`` (detections use ``id = -1``).

The ground-truth style is told from the file itself: every data line of a ground-truth file must
have the same number of columns, 9 (MOT16+) or 10 (MOT15).

All rows come back in one structured array with the fields of :data:`MOT_ROW_DTYPE`; fields a
file does not carry are filled with -1 (``class_id``, ``visibility`` for MOT15 ground truth and
results; world coordinates for MOT16+ ground truth).
"""

from __future__ import annotations

import configparser
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "MOT_ROW_DTYPE",
    "MOTFile",
    "MOTFormatError",
    "MOTKind",
    "MOTStyle",
    "SeqInfo",
    "make_mot_rows",
    "read_mot_file",
    "read_seqinfo",
    "write_mot_gt",
    "write_mot_results",
    "write_seqinfo",
]

MOTKind = Literal["gt", "result", "det"]
MOTStyle = Literal["mot15", "mot16", "result", "det"]

#: One row of any MOTChallenge text file. ``line`` is the 1-based line number in the source file
#: (0 for rows that did not come from a file), kept so later checks can name the offending line.
MOT_ROW_DTYPE = np.dtype(
    [
        ("frame", np.int64),
        ("id", np.int64),
        ("x", np.float64),
        ("y", np.float64),
        ("w", np.float64),
        ("h", np.float64),
        ("conf", np.float64),
        ("class_id", np.int64),
        ("visibility", np.float64),
        ("wx", np.float64),
        ("wy", np.float64),
        ("wz", np.float64),
        ("line", np.int64),
    ]
)

# Splits "1, 2,3" and "1 2 3" alike; a comma with whitespace around it is one separator.
_SEPARATOR = re.compile(r"\s*,\s*|\s+")

_GT_COLUMNS = {9: "mot16", 10: "mot15"}
_MIN_RESULT_COLUMNS = 7
_MAX_RESULT_COLUMNS = 10


class MOTFormatError(ValueError):
    """A MOTChallenge file that cannot be read; the message starts with ``path:line:``.

    Args:
        path: The file that is malformed.
        line: 1-based line number, or ``None`` when the problem is not tied to one line.
        message: What is wrong.
    """

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class MOTFile:
    """The parsed contents of one MOTChallenge text file.

    Attributes:
        path: Where the rows were read from.
        kind: What the caller read it as: ``'gt'``, ``'result'`` or ``'det'``.
        style: ``'mot15'`` (10-column gt), ``'mot16'`` (9-column gt: MOT16/17/20),
            ``'result'`` or ``'det'``.
        rows: Structured array of dtype :data:`MOT_ROW_DTYPE`, shape (N,), in file order.
    """

    path: Path
    kind: MOTKind
    style: MOTStyle
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def frames(self) -> np.ndarray:
        """Sorted unique frame numbers present in the file, shape (F,), int64."""
        return np.unique(self.rows["frame"])

    @property
    def boxes_xywh(self) -> np.ndarray:
        """Boxes as ``[x, y, w, h]`` (top-left corner, size) in pixels, shape (N, 4), float64."""
        return np.stack([self.rows[k] for k in ("x", "y", "w", "h")], axis=1).reshape(-1, 4)

    def rows_of_frame(self, frame: int) -> np.ndarray:
        """Rows whose ``frame`` equals ``frame``, shape (M,), dtype :data:`MOT_ROW_DTYPE`."""
        return self.rows[self.rows["frame"] == frame]


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``.

    Attributes:
        name: Sequence name, e.g. ``'MOT17-02-FRCNN'``.
        im_dir: Image folder relative to the sequence root, usually ``'img1'``.
        frame_rate: Frames per second.
        seq_length: Number of frames; images are ``000001{im_ext}`` .. ``{seq_length:06d}{im_ext}``.
        im_width: Image width in pixels.
        im_height: Image height in pixels.
        im_ext: Image file extension with its dot, e.g. ``'.jpg'``.
    """

    name: str
    im_dir: str
    frame_rate: int
    seq_length: int
    im_width: int
    im_height: int
    im_ext: str


def _parse_number(path: Path, line_no: int, column: int, name: str, text: str) -> float:
    """Parses one field as a finite float, or raises naming file, line and column."""
    try:
        value = float(text)
    except ValueError:
        raise MOTFormatError(
            path, line_no, f"column {column} ({name}) is not a number: {text!r}"
        ) from None
    if not math.isfinite(value):
        raise MOTFormatError(path, line_no, f"column {column} ({name}) is not finite: {text!r}")
    return value


def _parse_integer(path: Path, line_no: int, column: int, name: str, text: str) -> int:
    """Parses one field that must hold a whole number (``'3'`` and ``'3.0'`` alike)."""
    value = _parse_number(path, line_no, column, name, text)
    if value != int(value):
        raise MOTFormatError(
            path, line_no, f"column {column} ({name}) must be a whole number, got {text!r}"
        )
    return int(value)


def _column_names(style: MOTStyle) -> tuple[str, ...]:
    """Names of the columns a file of this kind and style holds, in file order."""
    head = ("frame", "id", "x", "y", "w", "h")
    if style == "mot16":
        return head + ("active", "class", "visibility")
    # MOT15 gt, results and detections share one layout.
    return head + ("conf", "wx", "wy", "wz")


def _split_lines(path: Path) -> list[tuple[int, list[str]]]:
    """Reads a text file into ``(line_no, fields)`` pairs, skipping blank lines."""
    try:
        # utf-8-sig: a byte-order mark some editors add is not part of the first frame number.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"MOTChallenge file not found: {path}") from None
    except UnicodeDecodeError as err:
        raise MOTFormatError(path, None, f"not a UTF-8 text file ({err.reason})") from None
    lines = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped:
            lines.append((line_no, _SEPARATOR.split(stripped)))
    return lines


def read_mot_file(
    path: str | Path,
    kind: MOTKind = "gt",
    image_size: tuple[int, int] | None = None,
) -> MOTFile:
    """Reads and validates a MOTChallenge ground-truth, result or detection file.

    Checks every line: column count (9 or 10 for ground truth, all lines alike; 7 to 10 for
    results and detections), numeric and finite values, whole-number frame, id and class,
    ``frame >= 1``, ``w > 0 and h > 0`` for ground truth (``>= 0`` for results and detections),
    visibility in [0, 1] for MOT16+ ground truth, and no identity twice in one frame (ground
    truth and results).

    Args:
        path: The text file.
        kind: ``'gt'``, ``'result'`` or ``'det'``.
        image_size: Optional ``(width, height)``; when given, a box that lies entirely outside
            the image is an error (MOTChallenge boxes may stick out of the image, but not lie
            wholly beyond it).

    Returns:
        A :class:`MOTFile` whose ``rows`` has shape (N,) and dtype :data:`MOT_ROW_DTYPE`.

    Raises:
        MOTFormatError: On the first malformed line, naming file, line and problem.
        FileNotFoundError: When ``path`` does not exist.
        ValueError: When ``kind`` is not one of the three kinds.
    """
    if kind not in ("gt", "result", "det"):
        raise ValueError(f"kind must be 'gt', 'result' or 'det', got {kind!r}")
    path = Path(path)
    lines = _split_lines(path)
    style: MOTStyle
    if kind == "gt":
        style = _gt_style(path, lines)
    else:
        style = kind
        for line_no, fields in lines:
            if not _MIN_RESULT_COLUMNS <= len(fields) <= _MAX_RESULT_COLUMNS:
                raise MOTFormatError(
                    path,
                    line_no,
                    f"expected {_MIN_RESULT_COLUMNS} to {_MAX_RESULT_COLUMNS} columns "
                    f"(frame,id,x,y,w,h,conf[,wx,wy,wz]) in a {kind} file, got {len(fields)}",
                )
    names = _column_names(style)
    rows = np.zeros(len(lines), dtype=MOT_ROW_DTYPE)
    # Fields the file does not carry stay at -1 ("not given"), as MOTChallenge itself writes.
    for field in ("class_id", "visibility", "wx", "wy", "wz"):
        rows[field] = -1
    for index, (line_no, fields) in enumerate(lines):
        rows[index] = _parse_row(path, line_no, fields, names, kind, style)
    _check_rows(path, rows, kind, image_size)
    return MOTFile(path=path, kind=kind, style=style, rows=rows)


def _gt_style(path: Path, lines: list[tuple[int, list[str]]]) -> MOTStyle:
    """Tells MOT15 (10 columns) from MOT16+ (9 columns) ground truth by its column counts."""
    style: MOTStyle | None = None
    first_line = 0
    for line_no, fields in lines:
        this = _GT_COLUMNS.get(len(fields))
        if this is None:
            raise MOTFormatError(
                path,
                line_no,
                f"expected 9 columns (MOT16/17/20 gt: frame,id,x,y,w,h,active,class,visibility) "
                f"or 10 (MOT15 gt: frame,id,x,y,w,h,conf,wx,wy,wz), got {len(fields)}",
            )
        if style is None:
            style, first_line = this, line_no  # type: ignore[assignment]
        elif this != style:
            raise MOTFormatError(
                path,
                line_no,
                f"has {len(fields)} columns but line {first_line} has "
                f"{10 if style == 'mot15' else 9}; a gt file must use one layout",
            )
    # An empty file has no layout of its own; MOT16+ is the current convention.
    return style if style is not None else "mot16"


def _parse_row(
    path: Path,
    line_no: int,
    fields: list[str],
    names: Sequence[str],
    kind: MOTKind,
    style: MOTStyle,
) -> tuple:
    """Converts one line's fields to a tuple matching :data:`MOT_ROW_DTYPE`."""
    values: dict[str, float] = {"class_id": -1, "visibility": -1.0, "wx": -1, "wy": -1, "wz": -1}
    for column, (name, text) in enumerate(zip(names, fields), start=1):
        if name in ("frame", "id", "class"):
            values[name] = _parse_integer(path, line_no, column, name, text)
        else:
            values[name] = _parse_number(path, line_no, column, name, text)
    if values["frame"] < 1:
        raise MOTFormatError(
            path, line_no, f"frame must be >= 1 (MOTChallenge frames are 1-based), got {fields[0]}"
        )
    if kind == "gt":
        if values["w"] <= 0 or values["h"] <= 0:
            raise MOTFormatError(
                path,
                line_no,
                f"box width and height must be > 0 in gt, got w={fields[4]}, h={fields[5]}",
            )
    elif values["w"] < 0 or values["h"] < 0:
        raise MOTFormatError(
            path, line_no, f"box width and height must be >= 0, got w={fields[4]}, h={fields[5]}"
        )
    if style == "mot16":
        values["conf"] = values.pop("active")
        values["class_id"] = values.pop("class")
        if not 0.0 <= values["visibility"] <= 1.0:
            raise MOTFormatError(
                path, line_no, f"visibility (column 9) must lie in [0, 1], got {fields[8]}"
            )
    return (
        values["frame"],
        values["id"],
        values["x"],
        values["y"],
        values["w"],
        values["h"],
        values["conf"],
        values["class_id"],
        values["visibility"],
        values["wx"],
        values["wy"],
        values["wz"],
        line_no,
    )


def _check_rows(
    path: Path, rows: np.ndarray, kind: MOTKind, image_size: tuple[int, int] | None
) -> None:
    """Checks across rows: no identity twice per frame; boxes not wholly outside the image."""
    if kind != "det" and len(rows) > 1:
        order = np.lexsort((rows["line"], rows["id"], rows["frame"]))
        frames, ids = rows["frame"][order], rows["id"][order]
        repeated = np.nonzero((np.diff(frames) == 0) & (np.diff(ids) == 0))[0]
        if repeated.size:
            first, second = rows[order[repeated[0]]], rows[order[repeated[0] + 1]]
            raise MOTFormatError(
                path,
                int(second["line"]),
                f"id {second['id']} appears twice in frame {second['frame']} "
                f"(also on line {first['line']})",
            )
    if image_size is not None and len(rows):
        width, height = image_size
        outside = (
            (rows["x"] >= width)
            | (rows["y"] >= height)
            | (rows["x"] + rows["w"] <= 0)
            | (rows["y"] + rows["h"] <= 0)
        )
        if outside.any():
            row = rows[np.argmax(outside)]
            raise MOTFormatError(
                path,
                int(row["line"]),
                f"box x={row['x']:g}, y={row['y']:g}, w={row['w']:g}, h={row['h']:g} lies "
                f"entirely outside the {width}x{height} image",
            )


def _column(values: Iterable[float] | float, dtype: type) -> np.ndarray:
    """A scalar (broadcast later) or an iterable as a 1-D array of ``dtype``."""
    if isinstance(values, (int, float, np.number)):
        return np.asarray(values, dtype=dtype)
    return np.asarray(list(values), dtype=dtype).reshape(-1)


def make_mot_rows(
    frame: Iterable[int],
    track_id: Iterable[int],
    boxes_xywh: np.ndarray | Sequence[Sequence[float]],
    conf: Iterable[float] | float = 1.0,
    class_id: Iterable[int] | int = -1,
    visibility: Iterable[float] | float = -1.0,
) -> np.ndarray:
    """Builds a structured row array from plain columns, for the writers.

    Args:
        frame: 1-based frame numbers, length N.
        track_id: Identity per row (``-1`` for detections), length N.
        boxes_xywh: ``[x, y, w, h]`` per row (top-left corner and size, pixels), shape (N, 4).
        conf: Score per row (results), or the active flag (ground truth); scalar or length N.
        class_id: MOTChallenge class per row (1 = pedestrian); scalar or length N.
        visibility: Visible fraction in [0, 1] per row (ground truth); scalar or length N.

    Returns:
        Structured array, shape (N,), dtype :data:`MOT_ROW_DTYPE`, world coordinates -1.
    """
    frames = np.asarray(list(frame), dtype=np.int64).reshape(-1)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    rows = np.zeros(frames.shape[0], dtype=MOT_ROW_DTYPE)
    if boxes.shape[0] != rows.shape[0]:
        raise ValueError(f"got {rows.shape[0]} frames but {boxes.shape[0]} boxes")
    rows["frame"] = frames
    rows["id"] = np.asarray(list(track_id), dtype=np.int64).reshape(-1)
    for index, name in enumerate(("x", "y", "w", "h")):
        rows[name] = boxes[:, index]
    rows["conf"] = _column(conf, np.float64)
    rows["class_id"] = _column(class_id, np.int64)
    rows["visibility"] = _column(visibility, np.float64)
    for name in ("wx", "wy", "wz"):
        rows[name] = -1
    return rows


def _as_rows(rows: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Accepts a structured array or an (N, >=7) table ``frame,id,x,y,w,h,conf[,...]``."""
    if isinstance(rows, np.ndarray) and rows.dtype.names is not None:
        missing = set(MOT_ROW_DTYPE.names or ()) - set(rows.dtype.names) - {"line"}
        if missing:
            raise ValueError(f"row array lacks fields {sorted(missing)}")
        out = np.zeros(rows.shape[0], dtype=MOT_ROW_DTYPE)
        for name in rows.dtype.names:
            if name in out.dtype.names:  # type: ignore[operator]
                out[name] = rows[name]
        return out
    table = np.asarray(rows, dtype=np.float64)
    if table.size == 0:
        return np.zeros(0, dtype=MOT_ROW_DTYPE)
    if table.ndim != 2 or table.shape[1] < 7:
        raise ValueError(
            f"rows must be a structured array or an (N, >=7) table frame,id,x,y,w,h,conf; "
            f"got shape {table.shape}"
        )
    return make_mot_rows(table[:, 0], table[:, 1], table[:, 2:6], table[:, 6])


def _format_number(value: float) -> str:
    """Writes a coordinate compactly: whole numbers without a point, else up to 3 decimals."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _validate_for_writing(path: Path, rows: np.ndarray, kind: MOTKind) -> None:
    """Refuses rows that :func:`read_mot_file` would reject, before anything is written."""
    numeric = ("x", "y", "w", "h", "conf", "visibility")
    for index, row in enumerate(rows):
        if row["frame"] < 1:
            raise ValueError(f"{path}: row {index}: frame must be >= 1, got {row['frame']}")
        if not all(math.isfinite(float(row[name])) for name in numeric):
            raise ValueError(f"{path}: row {index}: non-finite value in {row}")
        if kind == "gt":
            too_small = row["w"] <= 0 or row["h"] <= 0
        else:
            too_small = row["w"] < 0 or row["h"] < 0
        if too_small:
            raise ValueError(
                f"{path}: row {index}: invalid box size w={row['w']}, h={row['h']} for {kind}"
            )


def _write_lines(path: Path, lines: list[str]) -> None:
    """Writes lines through a temporary file, so a failure never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)


def _sorted(rows: np.ndarray) -> np.ndarray:
    """Rows ordered by frame, then id, as MOTChallenge tools write them."""
    return rows[np.lexsort((rows["id"], rows["frame"]))]


def write_mot_results(path: str | Path, rows: np.ndarray | Sequence[Sequence[float]]) -> None:
    """Writes tracker results in the MOTChallenge format ``frame,id,x,y,w,h,conf,-1,-1,-1``.

    Rows are sorted by frame, then id. Parent folders are created.

    Args:
        path: Output text file, e.g. ``RESULTS_DIR/MOT17-02-FRCNN.txt``.
        rows: Structured array of dtype :data:`MOT_ROW_DTYPE` (see :func:`make_mot_rows`), or an
            (N, >=7) numeric table ``frame, id, x, y, w, h, conf[, ...]``.

    Raises:
        ValueError: When a row has frame < 1, a negative size or a non-finite value.
    """
    path = Path(path)
    data = _sorted(_as_rows(rows))
    _validate_for_writing(path, data, "result")
    lines = [
        f"{int(r['frame'])},{int(r['id'])},"
        + ",".join(_format_number(float(r[k])) for k in ("x", "y", "w", "h", "conf"))
        + ",-1,-1,-1"
        for r in data
    ]
    _write_lines(path, lines)


def write_mot_gt(
    path: str | Path,
    rows: np.ndarray,
    style: Literal["mot15", "mot16"] = "mot16",
) -> None:
    """Writes ground truth in the MOT16/17/20 (9 columns) or the MOT15 (10 columns) layout.

    MOT16 layout: ``frame,id,x,y,w,h,active,class,visibility`` taking ``active`` from
    ``rows['conf']``. MOT15 layout: ``frame,id,x,y,w,h,conf,wx,wy,wz``.

    Args:
        path: Output text file, usually ``SEQ/gt/gt.txt``.
        rows: Structured array of dtype :data:`MOT_ROW_DTYPE`, shape (N,); for MOT16 every row
            needs a whole ``class_id`` and a ``visibility`` in [0, 1].
        style: ``'mot16'`` or ``'mot15'``.

    Raises:
        ValueError: On rows that :func:`read_mot_file` would reject.
    """
    path = Path(path)
    data = _sorted(_as_rows(rows))
    _validate_for_writing(path, data, "gt")
    if style == "mot16":
        bad = (data["visibility"] < 0) | (data["visibility"] > 1)
        if bad.any():
            raise ValueError(f"{path}: visibility must lie in [0, 1] for MOT16-style gt")
        tails = [
            f"{_format_number(float(r['conf']))},{int(r['class_id'])},"
            f"{_format_number(float(r['visibility']))}"
            for r in data
        ]
    elif style == "mot15":
        tails = [
            ",".join(_format_number(float(r[k])) for k in ("conf", "wx", "wy", "wz")) for r in data
        ]
    else:
        raise ValueError(f"style must be 'mot15' or 'mot16', got {style!r}")
    lines = [
        f"{int(r['frame'])},{int(r['id'])},"
        + ",".join(_format_number(float(r[k])) for k in ("x", "y", "w", "h"))
        + ","
        + tail
        for r, tail in zip(data, tails)
    ]
    _write_lines(path, lines)


_SEQINFO_KEYS = {
    "name": "name",
    "im_dir": "imDir",
    "frame_rate": "frameRate",
    "seq_length": "seqLength",
    "im_width": "imWidth",
    "im_height": "imHeight",
    "im_ext": "imExt",
}


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Reads the ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini``.

    Args:
        path: The ``seqinfo.ini`` file (keys are matched case-insensitively).

    Returns:
        The sequence's :class:`SeqInfo`.

    Raises:
        FileNotFoundError: When the file does not exist.
        MOTFormatError: When the file is not an ini file, lacks the ``[Sequence]`` section or a
            key, or a numeric key does not hold a positive whole number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"seqinfo.ini not found: {path}")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as err:
        raise MOTFormatError(
            path, getattr(err, "lineno", None), f"not a valid ini file: {err}"
        ) from None
    if not parser.has_section("Sequence"):
        raise MOTFormatError(path, None, "no [Sequence] section")
    section = parser["Sequence"]
    values: dict[str, str | int] = {}
    for field, key in _SEQINFO_KEYS.items():
        if key not in section:
            raise MOTFormatError(path, None, f"[Sequence] lacks the key {key!r}")
        text = section[key].strip()
        if field in ("frame_rate", "seq_length", "im_width", "im_height"):
            try:
                number = int(text)
            except ValueError:
                raise MOTFormatError(
                    path, None, f"{key} must be a whole number, got {text!r}"
                ) from None
            if number <= 0:
                raise MOTFormatError(path, None, f"{key} must be > 0, got {number}")
            values[field] = number
        else:
            values[field] = text
    return SeqInfo(**values)  # type: ignore[arg-type]


def write_seqinfo(path: str | Path, info: SeqInfo) -> None:
    """Writes a MOTChallenge ``seqinfo.ini`` with a ``[Sequence]`` section.

    Args:
        path: Output file, usually ``SEQ/seqinfo.ini``.
        info: The values to write.
    """
    lines = ["[Sequence]"] + [
        f"{key}={getattr(info, field)}" for field, key in _SEQINFO_KEYS.items()
    ]
    _write_lines(Path(path), lines + [""])
