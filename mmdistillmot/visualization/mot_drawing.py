"""Draw MOTChallenge boxes with identity colours on frames, and write annotated videos."""

from __future__ import annotations

import colorsys
import os
from collections.abc import Iterable

import cv2
import numpy as np

__all__ = ["id_color", "draw_mot_rows", "VideoSink"]


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per identity (golden-ratio hue steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_mot_rows(
    image: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    labels: Iterable[str] | None = None,
    scale: float = 1.0,
    thickness: int = 2,
) -> np.ndarray:
    """Draw boxes coloured by identity on a copy of ``image``.

    Args:
        image: BGR frame [H, W, 3] uint8.
        boxes: [N, 4] boxes ``(x, y, w, h)`` in pixels (MOTChallenge convention).
        ids: [N] identity numbers.
        labels: Optional text per box (defaults to the id).
        scale: Factor the image was resized by before drawing (boxes are scaled alike).
        thickness: Line thickness in pixels.

    Returns:
        The annotated BGR frame [H, W, 3] uint8.
    """
    canvas = image.copy()
    texts = list(labels) if labels is not None else [str(int(i)) for i in ids]
    for (x, y, w, h), track_id, text in zip(boxes * scale, ids, texts, strict=True):
        color = id_color(int(track_id))
        p1, p2 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
        cv2.rectangle(canvas, p1, p2, color, thickness)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        top = max(p1[1] - th - 4, 0)
        cv2.rectangle(canvas, (p1[0], top), (p1[0] + tw + 4, top + th + 4), color, -1)
        cv2.putText(
            canvas, text, (p1[0] + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
            (0, 0, 0), 1, cv2.LINE_AA,
        )  # fmt: skip
    return canvas


class VideoSink:
    """Write BGR frames to an mp4 (``mp4v``) file, or to numbered JPEGs for a folder path.

    Args:
        path: ``*.mp4`` / ``*.avi`` for a video, anything else for a folder of JPEGs.
        fps: Frames per second of the video.
    """

    def __init__(self, path: str, fps: float = 30.0) -> None:
        self.path = path
        self.fps = fps
        self.count = 0
        self._writer: cv2.VideoWriter | None = None
        self.is_video = path.lower().endswith((".mp4", ".avi"))
        parent = os.path.dirname(os.path.abspath(path)) if self.is_video else path
        os.makedirs(parent, exist_ok=True)

    def write(self, frame: np.ndarray) -> None:
        """Append one BGR frame [H, W, 3] uint8."""
        if self.is_video:
            if self._writer is None:
                codec = "mp4v" if self.path.endswith("mp4") else "MJPG"
                fourcc = cv2.VideoWriter.fourcc(*codec)
                height, width = frame.shape[:2]
                self._writer = cv2.VideoWriter(self.path, fourcc, self.fps, (width, height))
                if not self._writer.isOpened():
                    raise OSError(f"cannot open video writer for '{self.path}'")
            self._writer.write(frame)
        else:
            cv2.imwrite(os.path.join(self.path, f"{self.count + 1:06d}.jpg"), frame)
        self.count += 1

    def close(self) -> None:
        """Finish the file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
