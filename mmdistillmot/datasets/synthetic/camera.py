"""A pinhole camera over a flat ground plane: where a person standing at (X, Z) appears, how big.

World coordinates are metres: ``X`` to the right, ``Z`` away from the camera (depth), the
ground at height 0 and the camera at ``cam_height`` above it, looking horizontally with its
principal point moved to put the horizon at image row ``horizon_y``. A point on the ground at
depth ``Z`` projects to row ``horizon_y + focal * cam_height / Z`` and an upright object of
height ``H`` spans ``focal * H / Z`` pixels, which gives people the scale change with depth
(and with image row) that real street cameras show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GroundCamera"]


@dataclass(frozen=True)
class GroundCamera:
    """Projection from the ground plane to the image.

    Attributes:
        width: Image width in pixels.
        height: Image height in pixels.
        focal: Focal length in pixels.
        horizon_y: Image row of the horizon (may be above the image).
        cam_height: Camera height above the ground in metres.
    """

    width: int
    height: int
    focal: float
    horizon_y: float
    cam_height: float

    def project(self, x: float | np.ndarray, z: float | np.ndarray) -> tuple:
        """Projects ground points to the image.

        Args:
            x: Lateral position(s) in metres, scalar or shape (N,).
            z: Depth(s) in metres (> 0), same shape as ``x``.

        Returns:
            ``(u, v, px_per_m)``: image column and row of the ground point and pixels per metre
            at that depth, each shaped like ``x``.
        """
        px_per_m = self.focal / z
        u = self.width / 2.0 + x * px_per_m
        v = self.horizon_y + self.cam_height * px_per_m
        return u, v, px_per_m

    def depth_of_row(self, v: float) -> float:
        """Depth in metres of the ground point imaged at row ``v`` (below the horizon)."""
        if v <= self.horizon_y:
            raise ValueError(f"row {v} is not below the horizon at {self.horizon_y}")
        return self.focal * self.cam_height / (v - self.horizon_y)

    def half_width_m(self, z: float | np.ndarray, margin_px: float = 0.0) -> float | np.ndarray:
        """Half of the ground width, in metres, that the image sees at depth ``z``.

        Args:
            z: Depth(s) in metres.
            margin_px: Extra pixels on each side (negative shrinks the band).

        Returns:
            ``|X|`` bound in metres, shaped like ``z``.
        """
        return (self.width / 2.0 + margin_px) * z / self.focal
