"""Writing one sequence in the MOTChallenge layout.

``SPLIT/SEQ/img1/000001.jpg ...``, ``SPLIT/SEQ/gt/gt.txt`` (MOT17 style
``frame,id,x,y,w,h,1,1,visibility``), ``SPLIT/SEQ/det/det.txt``
(``frame,-1,x,y,w,h,score,-1,-1,-1``) and ``SPLIT/SEQ/seqinfo.ini``. Text files go through
:mod:`mmdistillmot.datasets.mot_files`, so they are exactly what the project's readers (and
mmdet's ``mot2coco``) expect. JPEG images are encoded with a fixed quality, so the same pixels
give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mmdistillmot.datasets.mot_files import (
    SeqInfo,
    write_mot_gt,
    write_mot_results,
    write_seqinfo,
)

__all__ = ["SequenceWriter", "write_jpeg"]


def write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Encodes a BGR image as baseline JPEG with a fixed quality and writes it.

    Args:
        path: Output file.
        image: BGR pixels, shape (H, W, 3), uint8.
        quality: JPEG quality, 1 to 100.

    Raises:
        OSError: When the image cannot be encoded.
    """
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_OPTIMIZE, 0]
    ok, data = cv2.imencode(".jpg", image, params)
    if not ok:
        raise OSError(f"could not encode {path} as JPEG")
    path.write_bytes(data.tobytes())


class SequenceWriter:
    """Writes the frames and annotation files of one sequence.

    Args:
        seq_dir: The sequence folder, ``OUT/SPLIT/SEQ``; created if missing.
        name: Sequence name (the folder's name in MOTChallenge).
        frame_rate: Frames per second.
        width: Image width in pixels.
        height: Image height in pixels.
        jpeg_quality: JPEG quality of the frames.
    """

    def __init__(
        self,
        seq_dir: Path,
        name: str,
        frame_rate: int,
        width: int,
        height: int,
        jpeg_quality: int = 90,
    ) -> None:
        self.seq_dir = Path(seq_dir)
        self.name = name
        self.frame_rate = frame_rate
        self.width = width
        self.height = height
        self.jpeg_quality = jpeg_quality
        self.img_dir = self.seq_dir / "img1"
        self.img_dir.mkdir(parents=True, exist_ok=True)
        self.num_frames = 0

    def add_frame(self, image: np.ndarray) -> Path:
        """Writes the next frame (``000001.jpg`` first).

        Args:
            image: BGR pixels, shape (height, width, 3), uint8.

        Returns:
            The written file.
        """
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: frame {self.num_frames + 1} has shape {image.shape} and dtype "
                f"{image.dtype}, expected ({self.height}, {self.width}, 3) uint8"
            )
        self.num_frames += 1
        path = self.img_dir / f"{self.num_frames:06d}.jpg"
        write_jpeg(path, image, self.jpeg_quality)
        return path

    def finish(self, gt: np.ndarray, det: np.ndarray) -> SeqInfo:
        """Writes ``gt/gt.txt``, ``det/det.txt`` and ``seqinfo.ini`` after the last frame.

        Args:
            gt: Ground-truth rows of dtype ``MOT_ROW_DTYPE`` (``conf`` 1, ``class_id`` 1).
            det: Detection rows of dtype ``MOT_ROW_DTYPE`` (``id`` -1, ``conf`` the score).

        Returns:
            The sequence's :class:`~mmdistillmot.datasets.mot_files.SeqInfo`.
        """
        if len(gt) and int(gt["frame"].max()) > self.num_frames:
            raise ValueError(
                f"{self.name}: ground truth reaches frame {int(gt['frame'].max())} but only "
                f"{self.num_frames} frames were written"
            )
        write_mot_gt(self.seq_dir / "gt" / "gt.txt", gt, style="mot16")
        write_mot_results(self.seq_dir / "det" / "det.txt", det)
        info = SeqInfo(
            name=self.name,
            im_dir="img1",
            frame_rate=self.frame_rate,
            seq_length=self.num_frames,
            im_width=self.width,
            im_height=self.height,
            im_ext=".jpg",
        )
        write_seqinfo(self.seq_dir / "seqinfo.ini", info)
        return info
