"""The static world of one camera and what its image goes through each frame.

A scene is a ground plane seen by a :class:`~.camera.GroundCamera` (tiled plaza, street with a
road, or park with a path) closed by a row of building facades with windows and doors, a few
pieces of scenery that hide people walking behind them (pillars, trees, lamp posts, sign
boards, planters), a soft static shadow on the ground, and per-frame effects: lighting that
changes (clouds passing, a colour cast drifting), camera jitter, lens blur and sensor noise.

The background is rendered ``margin`` pixels larger than the image on each side, so that a
jittered camera shows a shifted window of it; scenery and people move by the same shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .camera import GroundCamera
from .motion import WalkingArea
from .render import Sprite

__all__ = ["OCCLUDER_KINDS", "SCENE_STYLES", "Occluder", "Scene", "sample_scene"]

SCENE_STYLES = ("plaza", "street", "park")
OCCLUDER_KINDS = ("pillar", "tree", "lamp", "sign", "planter")
_OCCLUDER_P = {
    "plaza": (0.4, 0.05, 0.2, 0.15, 0.2),
    "street": (0.1, 0.35, 0.3, 0.2, 0.05),
    "park": (0.05, 0.55, 0.15, 0.05, 0.2),
}


@dataclass(frozen=True)
class Occluder:
    """A piece of scenery standing on the ground.

    Attributes:
        kind: One of :data:`OCCLUDER_KINDS`.
        x: Lateral position in metres.
        z: Depth in metres (sets the drawing order against people).
        sprite: Its pixels and silhouette at zero camera jitter.
    """

    kind: str
    x: float
    z: float
    sprite: Sprite

    def at(self, dx: int, dy: int) -> Sprite:
        """The sprite as seen by a camera shifted by ``(dx, dy)`` pixels."""
        return replace(self.sprite, left=self.sprite.left - dx, top=self.sprite.top - dy)


@dataclass(frozen=True)
class Scene:
    """Everything about one camera's view except the people.

    Attributes:
        style: One of :data:`SCENE_STYLES`.
        camera: The projection.
        area: Where people walk.
        margin: Extra background pixels on each side, >= the largest jitter.
        background: BGR, shape (H + 2 margin, W + 2 margin, 3), uint8.
        shading: Static light factor per background pixel (ground shadows, vignetting),
            shape (H + 2 margin, W + 2 margin), float32.
        occluders: Scenery, in no particular order.
        gain: Per-frame per-channel light factor (BGR), shape (T, 3), float32.
        jitter: Per-frame camera shift ``(dx, dy)`` in pixels, shape (T, 2), int64.
        noise_sigma: Standard deviation of the sensor noise in grey levels.
        blur_sigma: Standard deviation of the lens blur in pixels.
    """

    style: str
    camera: GroundCamera
    area: WalkingArea
    margin: int
    background: np.ndarray
    shading: np.ndarray
    occluders: tuple[Occluder, ...]
    gain: np.ndarray
    jitter: np.ndarray
    noise_sigma: float
    blur_sigma: float

    @property
    def num_frames(self) -> int:
        """Number of frames the lighting and jitter schedules cover."""
        return int(self.gain.shape[0])

    def window(
        self, t: int, region: tuple[int, int, int, int] | None = None
    ) -> tuple[slice, slice]:
        """Rows and columns of the background that frame ``t`` shows.

        Args:
            t: Frame index (selects the camera shift).
            region: Optional ``(x0, y0, x1, y1)`` part of the image, in image pixels, that must
                lie within the image; the whole image when ``None``.

        Returns:
            ``(rows, cols)`` slices into :attr:`background` and :attr:`shading`.
        """
        cam = self.camera
        x0, y0, x1, y1 = region if region is not None else (0, 0, cam.width, cam.height)
        if not (0 <= x0 < x1 <= cam.width and 0 <= y0 < y1 <= cam.height):
            raise ValueError(f"region {region} is not inside the {cam.width}x{cam.height} image")
        dx, dy = (int(v) for v in self.jitter[t])
        m = self.margin
        return slice(m + dy + y0, m + dy + y1), slice(m + dx + x0, m + dx + x1)

    def empty_frame(self, t: int, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """A writable copy of the background seen in frame ``t`` (or in a region of it).

        Returns:
            BGR image, shape (H, W, 3) or the region's shape, uint8.
        """
        rows, cols = self.window(t, region)
        return self.background[rows, cols].copy()

    def finish(
        self,
        frame: np.ndarray,
        t: int,
        rng: np.random.Generator,
        region: tuple[int, int, int, int] | None = None,
    ) -> np.ndarray:
        """Applies lighting, lens blur and sensor noise to a composed frame.

        Args:
            frame: Composed BGR image, shape (H, W, 3) (or the region's shape), uint8.
            t: Frame index (selects the light and the camera shift of that frame).
            rng: Random generator for the noise.
            region: The ``(x0, y0, x1, y1)`` part of the image ``frame`` shows, as given to
                :meth:`empty_frame`; the whole image when ``None``.

        Returns:
            The final BGR image, same shape as ``frame``, uint8.
        """
        rows, cols = self.window(t, region)
        light = self.shading[rows, cols][..., None] * self.gain[t][None, None, :]
        out = frame.astype(np.float32) * light
        if self.blur_sigma > 0:
            out = cv2.GaussianBlur(out, (3, 3), self.blur_sigma)
        out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(self.noise_sigma)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _rand_color(rng: np.random.Generator, base: tuple[int, int, int], spread: float) -> np.ndarray:
    return np.clip(np.asarray(base, np.float32) + rng.normal(0, spread, 3), 0, 255)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1], shape ``shape`` (blotches ``cells`` across)."""
    grid = rng.standard_normal((max(2, cells * shape[0] // shape[1]), cells)).astype(np.float32)
    return cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) / 2.0


def _ground_layer(
    camera: GroundCamera, margin: int, style: str, z_wall: float, rng: np.random.Generator
) -> np.ndarray:
    """The textured ground for rows below the far wall, float32 BGR (H + 2m, W + 2m, 3)."""
    hm, wm = camera.height + 2 * margin, camera.width + 2 * margin
    v = np.arange(hm, dtype=np.float32)[:, None] - margin + 0.5
    u = np.arange(wm, dtype=np.float32)[None, :] - margin + 0.5
    below = v > camera.horizon_y + 1e-3
    z = np.where(
        below, camera.focal * camera.cam_height / np.maximum(v - camera.horizon_y, 1e-3), 1e6
    )
    z = np.minimum(z, z_wall)
    x = (u - camera.width / 2.0) * z / camera.focal
    px_per_m = camera.focal / z

    def tiles(color: np.ndarray, size: float, contrast: float) -> np.ndarray:
        fx, fz = x / size, z / size
        checker = (np.floor(fx) + np.floor(fz)) % 2
        # Grout lines fade out where they get thinner than a pixel (no moire far away).
        line_px = 0.04 * px_per_m
        grout = (np.minimum(fx % 1.0, fz % 1.0) * size * px_per_m < line_px + 0.6) * np.minimum(
            1.0, line_px
        )
        img = np.ones_like(x)[..., None] * color[None, None, :]
        img = img * (1.0 + contrast * (checker[..., None] - 0.5))
        return img * (1.0 - 0.35 * grout[..., None])

    if style == "plaza":
        ground = tiles(_rand_color(rng, (165, 170, 175), 18), rng.uniform(0.6, 1.2), 0.08)
    elif style == "street":
        walk = tiles(_rand_color(rng, (160, 165, 170), 15), rng.uniform(0.4, 0.8), 0.06)
        road = np.ones_like(walk) * _rand_color(rng, (80, 82, 85), 8)[None, None, :]
        z0 = rng.uniform(1.3, 2.2) * (camera.focal * camera.cam_height / camera.height)
        z1 = z0 + rng.uniform(6.0, 10.0)
        on_road = ((z > z0) & (z < z1))[..., None]
        dash = ((np.abs(z - (z0 + z1) / 2) < 0.08) & ((x % 4.0) < 2.0))[..., None]
        ground = np.where(on_road, road, walk)
        ground = np.where(dash, np.float32(225.0), ground)
    else:
        grass = np.ones((hm, wm, 3), np.float32) * _rand_color(rng, (60, 130, 80), 12)
        grass *= 1.0 + 0.12 * _smooth_noise(rng, (hm, wm), 40)[..., None]
        path = np.ones_like(grass) * _rand_color(rng, (140, 165, 185), 12)
        zc = rng.uniform(0.3, 0.6) * z_wall
        on_path = (np.abs(z - zc - 0.15 * x) < rng.uniform(1.5, 3.0))[..., None]
        ground = np.where(on_path, path, grass)
    stains = 1.0 + 0.07 * _smooth_noise(rng, (hm, wm), 12)
    return (ground * stains[..., None]).astype(np.float32)


def _facades(
    canvas: np.ndarray,
    camera: GroundCamera,
    margin: int,
    z_wall: float,
    rng: np.random.Generator,
) -> None:
    """Draws sky and a row of building facades at depth ``z_wall`` into ``canvas`` (float32)."""
    hm, wm = canvas.shape[:2]
    pm = camera.focal / z_wall
    base_row = camera.horizon_y + camera.cam_height * pm + margin  # ground line of the facades
    sky_top = _rand_color(rng, (230, 200, 170), 10)
    sky_low = _rand_color(rng, (245, 235, 225), 8)
    ramp = np.linspace(0.0, 1.0, hm, dtype=np.float32)[:, None, None]
    sky = sky_top[None, None, :] * (1 - ramp) + sky_low[None, None, :] * ramp
    rows_above = np.arange(hm)[:, None, None] < base_row
    canvas[:] = np.where(rows_above, sky, canvas)
    x_left = -(wm / 2.0) / pm - 2.0
    x_right = (wm / 2.0) / pm + 2.0
    x = x_left
    facade_colors = (
        (70, 80, 150),
        (150, 175, 190),
        (140, 140, 140),
        (120, 100, 80),
        (90, 110, 120),
    )
    while x < x_right:
        width_m = rng.uniform(8.0, 20.0)
        height_m = rng.uniform(6.0, 18.0)
        color = _rand_color(rng, facade_colors[int(rng.integers(len(facade_colors)))], 12)
        c0 = wm / 2.0 + x * pm
        c1 = wm / 2.0 + (x + width_m) * pm
        top = base_row - height_m * pm
        cv2.rectangle(canvas, (int(c0), int(top)), (int(c1), int(base_row) + 1), color.tolist(), -1)
        window = np.clip(color * 0.45 + rng.normal(0, 10, 3), 0, 255).tolist()
        floor = 3.2
        for level in np.arange(floor * 0.9, height_m - 1.0, floor):
            for col in np.arange(1.0, width_m - 1.2, rng.uniform(2.2, 3.2)):
                p0 = (int(c0 + col * pm), int(base_row - (level + 1.6) * pm))
                p1 = (int(c0 + (col + 1.1) * pm), int(base_row - level * pm))
                if p1[0] > p0[0] and p1[1] > p0[1]:
                    cv2.rectangle(canvas, p0, p1, window, -1)
        door = x + rng.uniform(1.0, max(1.5, width_m - 2.5))
        d0 = (int(wm / 2.0 + door * pm), int(base_row - 2.2 * pm))
        d1 = (int(wm / 2.0 + (door + 1.4) * pm), int(base_row))
        cv2.rectangle(canvas, d0, d1, (35.0, 35.0, 40.0), -1)
        x += width_m


def _background(
    camera: GroundCamera, margin: int, style: str, z_wall: float, rng: np.random.Generator
) -> np.ndarray:
    """Ground, facades and sky, uint8 BGR (H + 2 margin, W + 2 margin, 3)."""
    canvas = _ground_layer(camera, margin, style, z_wall, rng)
    _facades(canvas, camera, margin, z_wall, rng)
    grain = rng.normal(0.0, 3.0, canvas.shape[:2]).astype(np.float32)[..., None]
    return np.clip(canvas + grain, 0, 255).astype(np.uint8)


def _shading(camera: GroundCamera, margin: int, rng: np.random.Generator) -> np.ndarray:
    """A soft shadow across part of the ground and a slight vignette, float32 (H+2m, W+2m)."""
    hm, wm = camera.height + 2 * margin, camera.width + 2 * margin
    shade = np.ones((hm, wm), np.float32)
    if rng.random() < 0.8:
        # A building's shadow: a quadrilateral reaching in from the left or right edge.
        edge = 0 if rng.random() < 0.5 else wm
        inner = rng.uniform(0.2, 0.5) * wm
        inner = inner if edge == 0 else wm - inner
        slant = rng.uniform(-0.3, 0.3) * wm
        top = rng.uniform(0.3, 0.6) * hm
        pts = np.array([[edge, top], [inner, top], [inner + slant, hm], [edge, hm]], np.int32)
        mask = np.zeros((hm, wm), np.float32)
        cv2.fillConvexPoly(mask, pts, 1.0)
        shade -= rng.uniform(0.2, 0.35) * cv2.GaussianBlur(mask, (0, 0), 6.0)
    yy, xx = np.mgrid[0:hm, 0:wm].astype(np.float32)
    r2 = ((xx - wm / 2) / (wm / 2)) ** 2 + ((yy - hm / 2) / (hm / 2)) ** 2
    return shade * (1.0 - 0.08 * r2)


def _leafy_blob(
    img: np.ndarray, mask: np.ndarray, center: tuple[float, float], radius: float, rng
) -> None:
    """Many overlapping green discs: a tree crown or a bush."""
    base = _rand_color(rng, (50, 120, 60), 15)
    for _ in range(40):
        ang, dist = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.random()) * 0.8
        c = (int(center[0] + dist * math.cos(ang)), int(center[1] + dist * 0.8 * math.sin(ang)))
        r = max(1, int(radius * rng.uniform(0.2, 0.4)))
        color = np.clip(base * rng.uniform(0.7, 1.2), 0, 255).tolist()
        cv2.circle(img, c, r, color, -1)
        cv2.circle(mask, c, r, 1, -1)


def _occluder_sprite(
    kind: str, pm: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Draws one piece of scenery ``pm`` pixels per metre.

    Returns:
        ``(image, mask, anchor_x, anchor_y)``: BGR (h, w, 3) uint8, silhouette (h, w) bool, and
        the patch position of its ground contact point.
    """
    sizes = {
        "pillar": (1.0, 7.5),
        "tree": (3.8, 5.4),
        "lamp": (1.2, 5.0),
        "sign": (1.4, 2.0),
        "planter": (1.4, 1.4),
    }
    wm, hm = sizes[kind]
    w, h = max(4, int(wm * pm) + 4), max(4, int(hm * pm) + 4)
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    ax, ay = w / 2.0, h - 2.0

    def rect(x0_m: float, x1_m: float, y0_m: float, y1_m: float, color) -> None:
        p0 = (int(round(ax + x0_m * pm)), int(round(ay - y1_m * pm)))
        p1 = (int(round(ax + x1_m * pm)) - 1, int(round(ay - y0_m * pm)))
        p1 = (max(p1[0], p0[0]), max(p1[1], p0[1]))
        cv2.rectangle(img, p0, p1, [float(c) for c in color], -1)
        cv2.rectangle(mask, p0, p1, 1, -1)

    if kind == "pillar":
        half = rng.uniform(0.22, 0.45)
        height = rng.uniform(3.5, 7.5)
        color = _rand_color(rng, (170, 172, 168), 15)
        rect(-half, half, 0.0, height, color)
        # Cylinder-like shading across the width, a darker foot.
        c0, c1 = (
            int(round(ax - half * pm)),
            max(int(round(ax + half * pm)), int(round(ax - half * pm)) + 1),
        )
        across = np.linspace(0.0, math.pi, c1 - c0, dtype=np.float32)
        img[:, c0:c1] = (img[:, c0:c1] * (0.7 + 0.4 * np.sin(across))[None, :, None]).clip(0, 255)
        rect(-half, half, 0.0, 0.35, color * 0.6)
    elif kind == "tree":
        trunk = rng.uniform(0.12, 0.2)
        rect(-trunk, trunk, 0.0, 2.6, _rand_color(rng, (40, 60, 85), 8))
        radius = rng.uniform(1.2, 1.8)
        _leafy_blob(img, mask, (ax, ay - (2.4 + radius * 0.8) * pm), radius * pm, rng)
    elif kind == "lamp":
        color = _rand_color(rng, (60, 70, 60), 10)
        rect(-0.06, 0.06, 0.0, 4.6, color)
        rect(-0.06, 0.5, 4.5, 4.6, color)
        rect(0.3, 0.55, 4.3, 4.5, (180.0, 230.0, 240.0))
    elif kind == "sign":
        legs = _rand_color(rng, (90, 90, 90), 10)
        rect(-0.5, -0.44, 0.0, 1.9, legs)
        rect(0.44, 0.5, 0.0, 1.9, legs)
        panel = _rand_color(rng, (int(rng.integers(40, 220)), int(rng.integers(40, 220)), 200), 30)
        rect(-0.6, 0.6, 0.8, 1.95, panel)
        for row in range(3):
            y = 1.0 + 0.3 * row
            rect(-0.45, rng.uniform(-0.1, 0.45), y, y + 0.12, panel * 0.5)
    else:  # planter with a bush
        box = _rand_color(rng, (110, 130, 150), 15)
        rect(-0.6, 0.6, 0.0, 0.6, box)
        _leafy_blob(img, mask, (ax, ay - 0.8 * pm), 0.55 * pm, rng)
    return img, mask > 0, ax, ay


def _occluders(
    camera: GroundCamera, area: WalkingArea, style: str, rng: np.random.Generator
) -> tuple[Occluder, ...]:
    """Two to five pieces of scenery spread over the walking area."""
    count = int(rng.integers(2, 6))
    kinds = rng.choice(len(OCCLUDER_KINDS), size=count, p=_OCCLUDER_P[style])
    placed: list[Occluder] = []
    for k in kinds:
        kind = OCCLUDER_KINDS[int(k)]
        for _ in range(10):  # keep pieces apart in the image
            z = area.z_near * 1.2 + (area.z_far - area.z_near * 1.2) * rng.beta(1.2, 1.6)
            x = rng.uniform(-0.8, 0.8) * float(camera.half_width_m(z))
            u, _, _ = camera.project(x, z)
            if all(abs(u - camera.project(o.x, o.z)[0]) > 0.12 * camera.width for o in placed):
                break
        u, v, pm = camera.project(x, z)
        img, mask, ax, ay = _occluder_sprite(kind, float(pm), rng)
        sprite = Sprite(image=img, mask=mask, left=int(round(u - ax)), top=int(round(v - ay)))
        placed.append(Occluder(kind=kind, x=float(x), z=float(z), sprite=sprite))
    return tuple(placed)


def _light_schedule(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame BGR gains: a base level and colour cast, clouds passing, a slow drift."""
    t = np.arange(num_frames, dtype=np.float32)
    level = np.full(num_frames, rng.uniform(0.85, 1.1), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        # A cloud: the light dims and comes back with raised-cosine ramps.
        start = rng.uniform(-0.2, 0.9) * num_frames
        length = rng.uniform(20.0, 60.0)
        depth = rng.uniform(0.15, 0.35)
        inside = np.clip((t - start) / length, 0.0, 1.0)
        level *= 1.0 - depth * np.sin(math.pi * inside) ** 2
    level *= 1.0 + 0.04 * np.sin(2 * math.pi * t / rng.uniform(80, 200) + rng.uniform(0, 6.3))
    cast = rng.normal(1.0, 0.04, 3).astype(np.float32)
    drift = 1.0 + 0.03 * np.sin(2 * math.pi * t[:, None] / 150.0 + rng.uniform(0, 6.3, 3)[None])
    return (level[:, None] * cast[None, :] * drift).astype(np.float32)


def _jitter_schedule(num_frames: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame integer camera shifts: steady, slightly drifting or shaky."""
    kind = rng.choice(3, p=(0.3, 0.4, 0.3))
    if kind == 0:
        return np.zeros((num_frames, 2), np.int64)
    amplitude = 1.5 if kind == 1 else 3.0
    pos = np.zeros(2)
    vel = np.zeros(2)
    out = np.zeros((num_frames, 2))
    shake = 0
    for i in range(num_frames):
        vel = 0.8 * vel + rng.normal(0.0, 0.25 * amplitude / 3.0, 2) - 0.05 * pos
        pos = pos + vel
        if kind == 2 and shake == 0 and rng.random() < 0.01:
            shake = int(rng.integers(4, 12))
        offset = rng.normal(0.0, 2.0, 2) if shake > 0 else 0.0
        shake = max(0, shake - 1)
        out[i] = np.clip(pos, -amplitude, amplitude) + offset
    return np.clip(np.rint(out), -limit, limit).astype(np.int64)


def sample_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    num_frames: int,
    style: str | None = None,
    margin: int = 8,
) -> Scene:
    """Draws a random scene.

    Args:
        rng: Random generator (the only source of randomness).
        width: Image width in pixels.
        height: Image height in pixels.
        num_frames: Number of frames of lighting and jitter to schedule.
        style: One of :data:`SCENE_STYLES`, or ``None`` to draw one.
        margin: Background pixels beyond each image side; jitter stays below it.

    Returns:
        A :class:`Scene`.
    """
    if style is None:
        style = SCENE_STYLES[int(rng.integers(len(SCENE_STYLES)))]
    elif style not in SCENE_STYLES:
        raise ValueError(f"style must be one of {SCENE_STYLES}, got {style!r}")
    horizon_frac = rng.uniform(0.12, 0.4)
    near_frac = rng.uniform(0.32, 0.55)  # height of a person at the bottom edge / image height
    camera = GroundCamera(
        width=width,
        height=height,
        focal=width * rng.uniform(0.75, 1.05),
        horizon_y=horizon_frac * height,
        cam_height=1.75 * (1.04 - horizon_frac) / near_frac,
    )
    area = WalkingArea.for_camera(camera)
    z_wall = area.z_far + rng.uniform(2.0, 6.0)
    return Scene(
        style=style,
        camera=camera,
        area=area,
        margin=margin,
        background=_background(camera, margin, style, z_wall, rng),
        shading=_shading(camera, margin, rng),
        occluders=_occluders(camera, area, style, rng),
        gain=_light_schedule(num_frames, rng),
        jitter=_jitter_schedule(num_frames, margin - 1, rng),
        noise_sigma=float(rng.uniform(1.5, 4.0)),
        blur_sigma=float(rng.uniform(0.5, 0.9)),
    )
