"""``Resize`` that keeps the unresized frame, for trackers whose second stage crops from it.

TDT's two-stage baseline runs its Re-ID network on crops of the *original* frame, as the
teacher stores that trained the one-stage student were extracted (``OSNetTeacher`` on
original-resolution crops). The detector sees a resized frame, so the pipeline has to carry the
original next to it: this transform is mmdet's ``Resize`` (same arguments, same output) that
first stores ``results['ori_img']``, the frame as loaded (``[H0, W0, 3]``, the loader's dtype
and channel order). Pack it with ``PackTrackInputs(meta_keys=('ori_img',))``; the model reads
it from each frame's metainfo (:class:`~mmdistillmot.models.mot.tdt.TwoStageTracker`).

It replaces ``Resize`` at the same place in the pipeline, so index-based ``--cfg-options``
such as ``test_dataloader.dataset.pipeline.0.transforms.1.scale=...`` keep working, and it works
with any loader before it (``LoadImageFromFile``, mmdet's in-memory loader in
``build_test_pipeline``, the FPS benchmark's).
"""

from __future__ import annotations

from mmdet.datasets.transforms import Resize
from mmdet.registry import TRANSFORMS

__all__ = ["ResizeKeepOriginal"]


@TRANSFORMS.register_module()
class ResizeKeepOriginal(Resize):
    """mmdet's ``Resize`` that also keeps the frame it was given as ``results['ori_img']``."""

    def transform(self, results: dict) -> dict:
        """Store ``ori_img`` (the input ``img``, not copied: Resize makes a new array), resize.

        Args:
            results: Holds ``img`` ``[H0, W0, 3]`` as the loader gave it.

        Returns:
            mmdet's ``Resize`` output plus ``ori_img`` ``[H0, W0, 3]``.
        """
        if "img" not in results:
            raise KeyError(
                "ResizeKeepOriginal: no 'img' in the results; put it after the image loader"
            )
        original = results["img"]
        out: dict = super().transform(results)
        out["ori_img"] = original
        return out
