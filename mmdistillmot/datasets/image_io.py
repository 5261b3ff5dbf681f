"""Image decoding that refuses empty, truncated and undecodable files, naming the file.

OpenCV's answers to a bad file differ by entry point and version, and several do not name it:
``cv2.imdecode`` of zero bytes raises ``cv2.error: (-215:Assertion failed) !buf.empty()``;
undecodable bytes give ``None`` (mmcv's loader then asserts); ``cv2.imread`` of a truncated
JPEG prints "Premature end of JPEG file" and returns the image with its missing rows filled
in gray, which a tracker or a training step then uses as if it were real. Every project reader
goes through :func:`check_image_bytes` and :func:`decode_image` instead, so each of those
cases is an :class:`ImageReadError` whose message starts with the file's path.

The completeness check walks the file's structure: a JPEG's marker segments (skipping each by
its length, and each scan's entropy-coded data up to the next marker) must reach the
end-of-image marker, a PNG's chunks (by their lengths) the ``IEND`` chunk. Bytes after that end
(some cameras append data) are allowed. A file whose structure the walk does not understand is
left to the decoder, so the check never refuses an image OpenCV would decode fully.
"""

from __future__ import annotations

import os

import mmcv
import numpy as np

__all__ = ["ImageReadError", "check_image_bytes", "decode_image", "read_image"]

_JPEG_SOI = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageReadError(OSError):
    """An image file that is empty, truncated or cannot be decoded."""


def _jpeg_ends(data: bytes) -> bool | None:
    """Whether the marker walk of a JPEG reaches end-of-image (None: structure not understood)."""
    n, i = len(data), 2
    while i < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1] if i + 1 < n else None
        if marker is None:
            return False
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0xD9:  # EOI
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
            continue
        if i + 4 > n:
            return False
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker != 0xDA:  # not SOS: the segment is all there is
            continue
        # entropy-coded data: FF 00 is a stuffed FF, FF D0-D7 a restart; any other FF xx ends it
        while True:
            i = data.find(b"\xff", i)
            if i < 0 or i + 1 >= n:
                return False
            follower = data[i + 1]
            if follower == 0x00 or 0xD0 <= follower <= 0xD7:
                i += 2
                continue
            break
    return False


def _png_ends(data: bytes) -> bool | None:
    """Whether the chunk walk of a PNG reaches ``IEND`` (None: structure not understood)."""
    n, i = len(data), len(_PNG_SIGNATURE)
    while i + 8 <= n:
        length = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        if not kind.isalpha():
            return None
        if kind == b"IEND":
            return i + 12 + length <= n  # with its CRC
        i += 12 + length  # length, type, data, CRC
    return False


def check_image_bytes(data: bytes, path: str | os.PathLike[str]) -> None:
    """Raise :class:`ImageReadError` if ``data`` is empty or a truncated JPEG or PNG.

    Args:
        data: The file's bytes.
        path: The file, for the message.

    Raises:
        ImageReadError: Empty file, or a JPEG or PNG that ends before its last marker
            (end-of-image) or chunk (``IEND``).
    """
    if not data:
        raise ImageReadError(f"cannot read image '{path}': the file is empty (0 bytes)")
    if data.startswith(_JPEG_SOI) and _jpeg_ends(data) is False:
        raise ImageReadError(
            f"cannot read image '{path}': truncated JPEG ({len(data)} bytes, it ends before "
            "its end-of-image marker)"
        )
    if data.startswith(_PNG_SIGNATURE) and _png_ends(data) is False:
        raise ImageReadError(
            f"cannot read image '{path}': truncated PNG ({len(data)} bytes, it ends before "
            "its IEND chunk)"
        )


def decode_image(
    data: bytes,
    path: str | os.PathLike[str],
    flag: str = "color",
    channel_order: str = "bgr",
    backend: str | None = None,
) -> np.ndarray:
    """Decode an image file's bytes as mmcv's ``imfrombytes`` does, or raise naming the file.

    Args:
        data: The file's bytes.
        path: The file, for the message.
        flag: mmcv's colour flag (``'color'``, ``'grayscale'``, ``'unchanged'``,
            ``'color_ignore_orientation'`` ...).
        channel_order: ``'bgr'`` or ``'rgb'``.
        backend: mmcv's decoding backend (None: mmcv's default, cv2).

    Returns:
        The decoded image (uint8 ``[H, W, 3]`` for colour flags).

    Raises:
        ImageReadError: Empty, truncated, or not decodable by the backend.
    """
    check_image_bytes(data, path)
    try:
        image = mmcv.imfrombytes(data, flag=flag, channel_order=channel_order, backend=backend)
    except Exception as err:  # cv2.error, PIL's UnidentifiedImageError, ...
        raise ImageReadError(
            f"cannot read image '{path}': {type(err).__name__} while decoding {len(data)} bytes"
        ) from err
    if image is None:
        raise ImageReadError(
            f"cannot read image '{path}': not decodable ({len(data)} bytes; corrupt, or not "
            "an image format OpenCV reads)"
        )
    return image


def read_image(path: str | os.PathLike[str], flag: str = "color") -> np.ndarray:
    """Read and decode a local image file (BGR), or raise naming the file.

    Args:
        path: The image file.
        flag: mmcv's colour flag.

    Returns:
        The decoded image.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImageReadError: Empty, truncated or undecodable.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image '{path}' does not exist")
    with open(path, "rb") as handle:
        data = handle.read()
    return decode_image(data, path, flag=flag)
