"""Drawing people-like figures and compositing a frame with a per-pixel owner map.

A figure is head, hair (or cap), neck, a textured torso, two arms and two legs with shoes, and
an optional backpack, drawn with OpenCV primitives at sub-pixel precision into its own RGBA
sprite. Limbs swing with the gait phase: seen from the side the legs and arms swing forwards and
back and the swinging knee bends, seen from the front or back the feet lift in turn. What shows
depends on the walking direction: face and logo from the front, hair and backpack from the back.

Sprites (people and scenery) are pasted far to near into the frame while a label map records
which object owns each pixel. A person's visibility is then measured, not guessed: the share of
its silhouette pixels that it still owns after everything in front of it is drawn and the image
border has cut it (MOTChallenge counts both occlusion and truncation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .appearance import Appearance

__all__ = [
    "FigurePose",
    "Sprite",
    "composite",
    "draw_figure",
    "draw_shadow",
    "measure_sprite",
    "paste_sprite",
]

# Sub-pixel precision of OpenCV drawing: coordinates carry 4 fractional bits.
_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class FigurePose:
    """Where and how a figure is drawn.

    Attributes:
        u: Image column of the point between the feet (ground contact), float pixels.
        v: Image row of that point.
        height_px: Body height in pixels.
        heading: Walking direction on the ground, radians (0 = right, pi/2 = away from camera).
        phase: Gait phase in radians.
        gait: Swing amplitude in [0, 1] (0 standing still, 1 walking).
    """

    u: float
    v: float
    height_px: float
    heading: float
    phase: float
    gait: float


@dataclass(frozen=True)
class Sprite:
    """An image patch with a silhouette, placed in image coordinates.

    Attributes:
        image: BGR pixels, shape (h, w, 3), uint8.
        mask: Silhouette, shape (h, w), bool.
        left: Image column of the patch's first column (may be negative).
        top: Image row of the patch's first row (may be negative).
    """

    image: np.ndarray
    mask: np.ndarray
    left: int
    top: int


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int, int]:
    """An opaque RGBA drawing colour, ``color`` scaled by ``factor``."""
    b, g, r = (min(255, int(c * factor)) for c in color)
    return (b, g, r, 255)


class _Canvas:
    """An RGBA patch with drawing helpers taking offsets (pixels) from the foot point."""

    def __init__(self, pose: FigurePose) -> None:
        h = pose.height_px
        self.left = math.floor(pose.u - 0.42 * h) - 2
        self.top = math.floor(pose.v - 1.06 * h) - 2
        right = math.ceil(pose.u + 0.42 * h) + 2
        bottom = math.ceil(pose.v + 0.05 * h) + 2
        self.ox = pose.u - self.left
        self.oy = pose.v - self.top
        self.rgba = np.zeros((bottom - self.top, right - self.left, 4), np.uint8)

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return (round((self.ox + x) * _ONE), round((self.oy + y) * _ONE))

    def line(self, p: tuple[float, float], q: tuple[float, float], color, width: float) -> None:
        cv2.line(
            self.rgba, self.pt(*p), self.pt(*q), color, max(1, round(width)), cv2.LINE_8, _SHIFT
        )

    def poly(self, points: list[tuple[float, float]], color, target=None) -> None:
        pts = np.asarray([self.pt(x, y) for x, y in points], np.int32)
        cv2.fillConvexPoly(self.rgba if target is None else target, pts, color, cv2.LINE_8, _SHIFT)

    def ellipse(
        self,
        center: tuple[float, float],
        axes: tuple[float, float],
        color,
        start: float = 0.0,
        end: float = 360.0,
    ) -> None:
        size = (max(1, round(axes[0] * _ONE)), max(1, round(axes[1] * _ONE)))
        cv2.ellipse(
            self.rgba, self.pt(*center), size, 0.0, start, end, color, -1, cv2.LINE_8, _SHIFT
        )


def _torso_texture(
    canvas: _Canvas,
    torso: np.ndarray,
    look: Appearance,
    h: float,
    shoulder_y: float,
    hip_y: float,
    facing_front: bool,
    direction: float,
    side: float,
) -> None:
    """Paints the torso pattern inside the boolean ``torso`` mask of the canvas."""
    if look.top_pattern == "plain":
        return
    rows = np.arange(canvas.rgba.shape[0], dtype=np.float32)[:, None] - canvas.oy
    cols = np.arange(canvas.rgba.shape[1], dtype=np.float32)[None, :] - canvas.ox
    period = max(2.0, look.pattern_scale * h)
    rel = (rows - shoulder_y) / (hip_y - shoulder_y)  # 0 at the shoulders, 1 at the hips
    if look.top_pattern == "stripes":
        second = np.floor((rows - shoulder_y) / period) % 2 == 1
        second = np.broadcast_to(second, torso.shape)
    elif look.top_pattern == "checks":
        second = (np.floor((rows - shoulder_y) / period) + np.floor(cols / period)) % 2 == 1
    elif look.top_pattern == "split":
        second = np.broadcast_to(cols * (direction if side > 0.5 else 1.0) > 0, torso.shape)
    elif look.top_pattern == "band":
        second = np.broadcast_to((rel > 0.22) & (rel < 0.42), torso.shape)
    else:  # logo: a small square on the chest, seen only from the front or side
        if not facing_front and side < 0.5:
            return
        cx = direction * side * 0.02 * h
        half = max(1.0, 0.032 * h)
        second = (np.abs(cols - cx) <= half) & (np.abs(rows - (shoulder_y + 0.09 * h)) <= half)
    paint = torso & second
    canvas.rgba[paint] = _shade(look.top_secondary, 1.0)


def draw_figure(look: Appearance, pose: FigurePose) -> Sprite:
    """Draws one person.

    Args:
        look: The identity's appearance.
        pose: Position, size, direction and gait phase in the image.

    Returns:
        A :class:`Sprite` whose mask is the figure's silhouette (about 0.84 h x 1.1 h pixels
        patch for a figure ``h`` pixels tall).
    """
    h = pose.height_px
    canvas = _Canvas(pose)
    b = look.build
    cos_h, sin_h = math.cos(pose.heading), math.sin(pose.heading)
    side = abs(cos_h)  # 1 seen from the side, 0 seen from front or back
    direction = 1.0 if cos_h >= 0 else -1.0  # screen direction the person faces
    facing_front = sin_h < 0.0  # walking towards the camera
    gait = pose.gait
    bob = 0.012 * h * abs(math.cos(pose.phase)) * gait
    hip_y = -0.47 * h - bob
    shoulder_y = -0.80 * h - bob
    head_c = (direction * side * 0.012 * h, -0.905 * h - bob)
    head_axes = (0.047 * h, 0.062 * h)
    sw = 0.115 * h * b * (1.0 - 0.4 * side)
    hw = 0.085 * h * b * (1.0 - 0.3 * side)
    leg_w = 0.075 * h * b
    arm_w = 0.05 * h * b
    leg_len = 0.47 * h
    arm_len = 0.36 * h
    lean = direction * side * 0.015 * h * gait

    def leg(k: int, shade: float) -> None:
        swing = math.sin(pose.phase + k * math.pi) * gait
        lateral = (-1.0 if k == 0 else 1.0) * 0.045 * h * b * (1.0 - side)
        hip = (lateral, hip_y)
        angle = 0.45 * swing * side
        foot_x = lateral + direction * math.sin(angle) * leg_len
        foot_y = min(0.0, hip_y + math.cos(angle) * leg_len)
        foot_y -= 0.04 * h * max(0.0, swing) * (1.0 - side)
        bend = max(0.0, math.cos(pose.phase + k * math.pi)) * gait * side
        knee = ((hip[0] + foot_x) / 2 + direction * 0.035 * h * bend, (hip[1] + foot_y) / 2)
        shin = look.bottom if look.bottom_style == "trousers" else look.skin  # bare below knee
        canvas.line(hip, knee, _shade(look.bottom, shade), leg_w)
        canvas.line(knee, (foot_x, foot_y), _shade(shin, shade), leg_w * 0.9)
        toe = (foot_x + direction * side * 0.055 * h, foot_y)
        canvas.line((foot_x, foot_y), toe, _shade(look.shoes, shade), 0.045 * h)

    def arm(k: int, shade: float) -> None:
        swing = -math.sin(pose.phase + k * math.pi) * gait
        lateral = (-1.0 if k == 0 else 1.0) * (sw + 0.01 * h) * (1.0 - side)
        shoulder = (lateral + lean, shoulder_y + 0.03 * h)
        angle = 0.5 * swing * side
        dx, dy = direction * math.sin(angle) * arm_len, math.cos(angle) * arm_len
        elbow = (shoulder[0] + dx / 2, shoulder[1] + dy / 2)
        hand = (shoulder[0] + dx, shoulder[1] + dy)
        canvas.line(shoulder, elbow, _shade(look.top, shade), arm_w)
        lower = look.top if look.long_sleeves else look.skin
        canvas.line(elbow, hand, _shade(lower, shade), arm_w * 0.9)
        canvas.ellipse(hand, (0.022 * h, 0.022 * h), _shade(look.skin, shade))

    def backpack_behind() -> None:
        x0 = -direction * (sw + 0.05 * h * b) + lean
        x1 = -direction * sw * 0.3 + lean
        y0, y1 = shoulder_y + 0.02 * h, shoulder_y + 0.24 * h
        canvas.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], _shade(look.backpack or (0, 0, 0), 1))

    # Back layers first: hair falling behind the head, the far limbs in a side view.
    far_k = 0 if direction > 0 else 1
    near_k = 1 - far_k
    if look.hair_style == "long" and facing_front:
        canvas.ellipse(
            (head_c[0], head_c[1] + 0.04 * h), (0.06 * h, 0.08 * h), _shade(look.hair, 1.0)
        )
    if side > 0.5:
        arm(far_k, 0.8)
        leg(far_k, 0.8)
        leg(near_k, 1.0)
        if look.backpack is not None:
            backpack_behind()
    else:
        leg(0, 1.0)
        leg(1, 1.0)

    # Torso with its texture.
    torso_pts = [
        (-sw + lean, shoulder_y),
        (sw + lean, shoulder_y),
        (hw, hip_y + 0.02 * h),
        (-hw, hip_y + 0.02 * h),
    ]
    torso_mask = np.zeros(canvas.rgba.shape[:2], np.uint8)
    canvas.poly(torso_pts, 1, target=torso_mask)
    canvas.poly(torso_pts, _shade(look.top, 1.0))
    _torso_texture(
        canvas, torso_mask > 0, look, h, shoulder_y, hip_y, facing_front, direction, side
    )
    if look.bottom_style == "skirt":
        canvas.poly(
            [(-hw, hip_y), (hw, hip_y), (hw * 1.5, hip_y + 0.2 * h), (-hw * 1.5, hip_y + 0.2 * h)],
            _shade(look.bottom, 1.0),
        )
    if look.backpack is not None and side <= 0.5:
        if facing_front:  # only the straps show from the front
            for sx in (-0.6, 0.6):
                canvas.line(
                    (sx * sw, shoulder_y),
                    (sx * sw * 0.8, shoulder_y + 0.18 * h),
                    _shade(look.backpack, 1.0),
                    0.018 * h,
                )
        else:
            pw = 0.085 * h * b
            y0, y1 = shoulder_y + 0.03 * h, shoulder_y + 0.25 * h
            canvas.poly([(-pw, y0), (pw, y0), (pw, y1), (-pw, y1)], _shade(look.backpack, 1.0))

    # Neck, head, hair, cap.
    canvas.line(
        (lean, shoulder_y), (head_c[0], head_c[1] + 0.05 * h), _shade(look.skin, 0.9), 0.04 * h
    )
    canvas.ellipse(head_c, head_axes, _shade(look.skin, 1.0))
    hair = _shade(look.hair, 1.0)
    hair_axes = (head_axes[0] * 1.06, head_axes[1] * 1.04)
    if look.hair_style != "bald":
        if not facing_front and side <= 0.5:
            canvas.ellipse(head_c, hair_axes, hair)  # the back of the head
            if look.hair_style == "long":
                top = head_c[1]
                canvas.poly(
                    [
                        (-0.05 * h, top),
                        (0.05 * h, top),
                        (0.05 * h, top + 0.1 * h),
                        (-0.05 * h, top + 0.1 * h),
                    ],
                    hair,
                )
        elif side > 0.5:
            # Top and back of the head; the back is opposite the facing direction.
            start, end = (90.0, 360.0) if direction > 0 else (180.0, 450.0)
            canvas.ellipse(head_c, hair_axes, hair, start, end)
        else:
            canvas.ellipse(head_c, hair_axes, hair, 180.0, 360.0)
    if look.hat is not None:
        cap = _shade(look.hat, 1.0)
        canvas.ellipse(
            (head_c[0], head_c[1] - 0.01 * h), (hair_axes[0], hair_axes[1] * 0.8), cap, 180, 360
        )
        brim_dir = direction * side
        canvas.line(
            (head_c[0], head_c[1] - 0.015 * h),
            (head_c[0] + brim_dir * 0.075 * h, head_c[1] - 0.012 * h),
            cap,
            0.018 * h,
        )

    # Front layers: the near arm (side view) or both arms (front and back views).
    if side > 0.5:
        arm(near_k, 1.0)
    else:
        arm(0, 1.0)
        arm(1, 1.0)

    rgba = canvas.rgba
    return Sprite(image=rgba[..., :3], mask=rgba[..., 3] > 0, left=canvas.left, top=canvas.top)


def draw_shadow(frame: np.ndarray, pose: FigurePose, strength: float = 0.6) -> None:
    """Darkens an ellipse on the ground under a figure, in place.

    Args:
        frame: BGR image, shape (H, W, 3), uint8; modified in place.
        pose: The figure whose shadow to draw.
        strength: Brightness factor inside the shadow (0 black, 1 no shadow).
    """
    h = pose.height_px
    ax, ay = 0.2 * h, 0.035 * h + 1.0
    x0, y0 = max(0, math.floor(pose.u - ax) - 1), max(0, math.floor(pose.v - ay) - 1)
    x1 = min(frame.shape[1], math.ceil(pose.u + ax) + 2)
    y1 = min(frame.shape[0], math.ceil(pose.v + ay) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    center = (round((pose.u - x0) * _ONE), round((pose.v - y0) * _ONE))
    axes = (max(1, round(ax * _ONE)), max(1, round(ay * _ONE)))
    cv2.ellipse(mask, center, axes, 0.0, 0.0, 360.0, 1, -1, cv2.LINE_8, _SHIFT)
    roi = frame[y0:y1, x0:x1]
    inside = mask > 0
    roi[inside] = (roi[inside] * strength).astype(np.uint8)


def _clip(sprite: Sprite, width: int, height: int) -> tuple[slice, slice, slice, slice] | None:
    """Image and sprite slices of the part of ``sprite`` inside a ``width`` x ``height`` image."""
    h, w = sprite.mask.shape
    x0, y0 = max(0, sprite.left), max(0, sprite.top)
    x1, y1 = min(width, sprite.left + w), min(height, sprite.top + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return (
        slice(y0, y1),
        slice(x0, x1),
        slice(y0 - sprite.top, y1 - sprite.top),
        slice(x0 - sprite.left, x1 - sprite.left),
    )


def paste_sprite(frame: np.ndarray, labels: np.ndarray, sprite: Sprite, label: int) -> None:
    """Draws ``sprite`` over ``frame`` and marks its pixels as owned by ``label``, in place.

    Args:
        frame: BGR image, shape (H, W, 3), uint8.
        labels: Owner of each pixel, shape (H, W), int32 (0 = background).
        sprite: What to draw; parts outside the image are ignored.
        label: The owner id written into ``labels`` under the silhouette.
    """
    parts = _clip(sprite, frame.shape[1], frame.shape[0])
    if parts is None:
        return
    fy, fx, sy, sx = parts
    mask = sprite.mask[sy, sx]
    frame[fy, fx][mask] = sprite.image[sy, sx][mask]
    labels[fy, fx][mask] = label


def measure_sprite(
    labels: np.ndarray, sprite: Sprite, label: int
) -> tuple[tuple[int, int, int, int], float] | None:
    """The clipped box and visibility of a pasted sprite.

    Args:
        labels: The frame's owner map after every sprite was pasted, shape (H, W).
        sprite: The object's sprite as pasted.
        label: Its owner id.

    Returns:
        ``((x, y, w, h), visibility)`` with the box of the full silhouette cut to the image in
        integer pixel edges (``0 <= x``, ``x + w <= W``), and the share of silhouette pixels
        that are in the image and not covered; ``None`` when no silhouette pixel lies in the
        image.
    """
    height, width = labels.shape
    total = int(np.count_nonzero(sprite.mask))
    parts = _clip(sprite, width, height)
    if parts is None or total == 0:
        return None
    rows = np.flatnonzero(sprite.mask.any(axis=1))
    cols = np.flatnonzero(sprite.mask.any(axis=0))
    x0 = max(0, sprite.left + int(cols[0]))
    y0 = max(0, sprite.top + int(rows[0]))
    x1 = min(width, sprite.left + int(cols[-1]) + 1)
    y1 = min(height, sprite.top + int(rows[-1]) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    fy, fx, sy, sx = parts
    if not sprite.mask[sy, sx].any():  # only the box corner reaches into the image
        return None
    visible = int(np.count_nonzero(labels[fy, fx] == label))
    return (x0, y0, x1 - x0, y1 - y0), visible / total


def composite(
    frame: np.ndarray, labels: np.ndarray, layers: list[tuple[float, int, Sprite]]
) -> None:
    """Pastes sprites far to near, so that nearer objects cover farther ones, in place.

    Args:
        frame: BGR image, shape (H, W, 3), uint8.
        labels: Owner map, shape (H, W), int32.
        layers: ``(depth, label, sprite)`` per object; depth in metres from the camera.
    """
    for _, label, sprite in sorted(layers, key=lambda layer: -layer[0]):
        paste_sprite(frame, labels, sprite, label)
