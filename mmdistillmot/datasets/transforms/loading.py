"""``LoadImageFromFile`` whose errors name the image: empty, truncated and corrupt files.

mmcv's loader (which every config's pipeline names) reports an undecodable file as
``AssertionError: failed to load image: PATH`` but a zero-byte one as OpenCV's
``error: (-215:Assertion failed) !buf.empty() in function 'imdecode_'`` without the file, and
accepts a truncated JPEG wherever the local OpenCV build decodes one with gray rows. This
subclass, registered under the same name in mmdet's registry (which the configs' ``mmdet``
scope resolves first), reads the bytes as mmcv does and decodes them through
:func:`mmdistillmot.datasets.image_io.decode_image`, so each of those cases is an
:class:`~mmdistillmot.datasets.image_io.ImageReadError` that names the file. A good image
gives the same array as mmcv's loader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine import fileio

from mmdistillmot.datasets.image_io import decode_image

__all__ = ["LoadImageFromFile"]


@TRANSFORMS.register_module(name="LoadImageFromFile", force=True)
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (same arguments) with errors that name the file.

    ``ignore_empty=True`` keeps its meaning: a missing or unreadable file gives None (the
    dataset then picks another sample) instead of an error.
    """

    def transform(self, results: dict) -> dict | None:
        """Load ``results['img_path']`` into ``img``, ``img_shape`` and ``ori_shape``."""
        if self.file_client_args is not None:  # deprecated mmcv option: mmcv's own path
            out: dict | None = super().transform(results)
            return out
        filename = results["img_path"]
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
            img: Any = decode_image(
                data, filename, flag=self.color_type, backend=self.imdecode_backend
            )
        except OSError:  # FileNotFoundError names the file, ImageReadError too
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results
