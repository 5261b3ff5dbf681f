"""Walking trajectories on the ground plane: entries, exits, turns, stops, crossings.

Each walker enters from a side of the view (or from the far end), heads for a few waypoints
with a wandering heading and a speed that drifts around its own preferred pace, sometimes stops
for a while, and leaves through a side or the far end. Part of the crowd is already in the view
at the first frame. *Encounters* send two people (often look-alikes) towards each other at the
same depth, so that crossings with full mutual occlusion happen in every sequence.

All positions are world metres (see :mod:`.camera`); one simulation step is one video frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .appearance import Appearance, IdentitySampler
from .camera import GroundCamera

__all__ = ["MotionConfig", "WalkerTrack", "WalkingArea", "simulate_walkers"]

# A person's gait cycle (two steps) is roughly 0.8 body heights long.
_CYCLE_PER_HEIGHT = 0.8


@dataclass(frozen=True)
class MotionConfig:
    """How people move in one sequence.

    Attributes:
        fps: Frames per second (one simulation step per frame).
        target_people: Mean number of people in the view the spawner aims for.
        speed_range: Range of preferred walking speeds in m/s.
        stop_prob: Per-frame chance that a walker in view stops for 1 to 3 seconds.
        encounter_prob: Per-frame chance of sending two people across each other's path.
        lookalike_prob: Share of new identities that imitate someone recent.
        far_entry_prob: Share of entries from the far end instead of the left or right side.
        wander_prob: Share of walkers that visit one or two points inside the view first.
    """

    fps: int = 15
    target_people: float = 10.0
    speed_range: tuple[float, float] = (0.7, 1.9)
    stop_prob: float = 0.004
    encounter_prob: float = 0.015
    lookalike_prob: float = 0.3
    far_entry_prob: float = 0.15
    wander_prob: float = 0.35


@dataclass(frozen=True)
class WalkingArea:
    """The part of the ground where people walk, in depth.

    Attributes:
        camera: The scene camera.
        z_near: Nearest depth: feet just below the bottom image edge (truncated people).
        z_far: Farthest depth: people about 18 px or 7 % of the image height tall.
    """

    camera: GroundCamera
    z_near: float
    z_far: float

    @classmethod
    def for_camera(cls, camera: GroundCamera) -> WalkingArea:
        """The walking area a camera sees, from the bottom edge to where people get tiny."""
        z_near = camera.depth_of_row(camera.height * 1.04)
        z_far = camera.focal * 1.75 / max(18.0, 0.07 * camera.height)
        return cls(camera=camera, z_near=z_near, z_far=max(z_far, 1.6 * z_near))

    def sample_depth(self, rng: np.random.Generator) -> float:
        """A depth in the area, drawn by image row so that near (large) people are common."""
        cam = self.camera
        v_far = float(cam.project(0.0, self.z_far)[1])
        v_near = float(cam.project(0.0, self.z_near * 1.05)[1])
        return cam.depth_of_row(v_far + (v_near - v_far) * rng.beta(1.5, 1.2))

    def sample_inside(self, rng: np.random.Generator, fill: float = 0.85) -> tuple[float, float]:
        """A ground point ``(x, z)`` in view, within ``fill`` of the half width."""
        z = self.sample_depth(rng)
        x = rng.uniform(-fill, fill) * float(self.camera.half_width_m(z))
        return x, z

    def outside_point(self, side: str, z: float, rng: np.random.Generator) -> tuple[float, float]:
        """A point just out of view: ``side`` is ``'left'``, ``'right'`` or ``'far'``."""
        if side == "far":
            zf = self.z_far + 1.0
            return rng.uniform(-0.7, 0.7) * float(self.camera.half_width_m(zf)), zf
        sign = -1.0 if side == "left" else 1.0
        # 1.2 m beyond the edge: the whole body (about 0.6 m wide) is out of the image.
        return sign * (float(self.camera.half_width_m(z)) + 1.2), z


@dataclass
class WalkerTrack:
    """One identity's trajectory, from its first simulated frame on.

    Attributes:
        walker_id: Index in spawn order (before ids are given to visible people).
        identity: Index of the identity in the sequence's :class:`IdentitySampler`.
        appearance: The identity's look.
        first_frame: 0-based frame of the first state.
        x: Lateral position per frame in metres, shape (L,).
        z: Depth per frame in metres, shape (L,).
        heading: Walking direction per frame in radians (0 = +X, pi/2 = away), shape (L,).
        phase: Gait phase per frame in radians, shape (L,).
        speed: Speed per frame in m/s, shape (L,).
    """

    walker_id: int
    identity: int
    appearance: Appearance
    first_frame: int
    x: np.ndarray
    z: np.ndarray
    heading: np.ndarray
    phase: np.ndarray
    speed: np.ndarray

    @property
    def last_frame(self) -> int:
        """0-based last frame with a state (inclusive)."""
        return self.first_frame + int(self.x.shape[0]) - 1

    def index(self, frame: int) -> int | None:
        """Position of ``frame`` in the per-frame arrays, or ``None`` when not simulated."""
        i = frame - self.first_frame
        return i if 0 <= i < self.x.shape[0] else None


@dataclass
class _Walker:
    """Mutable state while simulating."""

    walker_id: int
    identity: int
    appearance: Appearance
    first_frame: int
    x: float
    z: float
    heading: float
    speed: float
    pref_speed: float
    waypoints: list[tuple[float, float]]
    phase: float = 0.0
    omega: float = 0.0
    stop_left: int = 0
    waypoint_age: int = 0
    done: bool = False
    log: list[tuple[float, float, float, float, float]] = field(default_factory=list)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


class _Simulator:
    """Spawns, steps and retires walkers; see :func:`simulate_walkers`."""

    def __init__(
        self,
        area: WalkingArea,
        cfg: MotionConfig,
        rng: np.random.Generator,
        identities: IdentitySampler,
    ) -> None:
        self.area = area
        self.cfg = cfg
        self.rng = rng
        self.identities = identities
        self.active: list[_Walker] = []
        self.finished: list[_Walker] = []
        self.dt = 1.0 / cfg.fps

    def _new_walker(
        self,
        frame: int,
        pos: tuple[float, float],
        heading: float,
        waypoints: list[tuple[float, float]],
        imitate: int | None = None,
    ) -> _Walker:
        look = self.identities.new(imitate)
        pref = float(self.rng.uniform(*self.cfg.speed_range))
        walker = _Walker(
            walker_id=len(self.active) + len(self.finished),
            identity=len(self.identities.issued) - 1,
            appearance=look,
            first_frame=frame,
            x=pos[0],
            z=pos[1],
            heading=heading,
            speed=pref,
            pref_speed=pref,
            waypoints=waypoints,
            phase=float(self.rng.uniform(0, 2 * math.pi)),
        )
        self.active.append(walker)
        return walker

    def _route(self, start_side: str | None) -> list[tuple[float, float]]:
        """Optional inner waypoints, then an exit point out of view."""
        rng = self.rng
        route = []
        if rng.random() < self.cfg.wander_prob:
            for _ in range(int(rng.integers(1, 3))):
                route.append(self.area.sample_inside(rng, fill=0.75))
        sides = ["left", "right", "far"]
        weights = np.array([1.0, 1.0, 0.35])
        if start_side in ("left", "right"):
            # Mostly leave on the other side: long tracks that cross the view.
            weights[sides.index(start_side)] = 0.25
        if start_side == "far":
            weights[2] = 0.1
        exit_side = sides[int(rng.choice(3, p=weights / weights.sum()))]
        route.append(self.area.outside_point(exit_side, self.area.sample_depth(rng), rng))
        return route

    def spawn_initial(self, count: int) -> None:
        """Places ``count`` walkers inside the view at frame 0."""
        for _ in range(count):
            pos = self.area.sample_inside(self.rng)
            self._new_walker(0, pos, float(self.rng.uniform(-math.pi, math.pi)), self._route(None))

    def spawn_entry(self, frame: int) -> None:
        """One walker entering from a side or the far end."""
        rng = self.rng
        if rng.random() < self.cfg.far_entry_prob:
            side = "far"
            pos = self.area.outside_point("far", self.area.z_far, rng)
            heading = -math.pi / 2 + rng.normal(0.0, 0.4)
        else:
            side = "left" if rng.random() < 0.5 else "right"
            pos = self.area.outside_point(side, self.area.sample_depth(rng), rng)
            heading = (0.0 if side == "left" else math.pi) + rng.normal(0.0, 0.3)
        self._new_walker(frame, pos, heading, self._route(side))

    def spawn_encounter(self, frame: int) -> None:
        """Two walkers entering from opposite sides at about the same depth."""
        rng = self.rng
        z = self.area.sample_depth(rng)
        first = None
        for side in ("left", "right"):
            zs = z + rng.normal(0.0, 0.3)
            other = "right" if side == "left" else "left"
            exit_point = self.area.outside_point(other, zs + rng.normal(0.0, 0.3), rng)
            heading = 0.0 if side == "left" else math.pi
            imitate = first.identity if first is not None and rng.random() < 0.6 else None
            walker = self._new_walker(
                frame, self.area.outside_point(side, zs, rng), heading, [exit_point], imitate
            )
            # Similar pace, so that they meet near the middle of the view.
            if first is None:
                first = walker
            else:
                walker.pref_speed = walker.speed = first.pref_speed * rng.uniform(0.85, 1.15)

    def step(self, walker: _Walker) -> None:
        """Advances one walker by one frame."""
        rng, cfg, area = self.rng, self.cfg, self.area
        tx, tz = walker.waypoints[0]
        desired = math.atan2(tz - walker.z, tx - walker.x)
        walker.omega = 0.9 * walker.omega + rng.normal(0.0, 0.012)
        # At most 0.15 rad per frame: tight enough never to orbit a waypoint at walking pace.
        turn = max(-1.0, min(1.0, _wrap(desired - walker.heading))) * 0.15
        walker.heading = _wrap(walker.heading + turn + walker.omega)

        in_view = abs(walker.x) < float(area.camera.half_width_m(walker.z)) and (
            area.z_near < walker.z < area.z_far
        )
        if walker.stop_left > 0:
            walker.stop_left -= 1
            walker.speed *= 0.6
        else:
            if in_view and rng.random() < cfg.stop_prob:
                walker.stop_left = int(rng.integers(cfg.fps, 3 * cfg.fps))
            if rng.random() < 0.01:
                walker.pref_speed = float(
                    np.clip(walker.pref_speed * rng.uniform(0.75, 1.3), *cfg.speed_range)
                )
            walker.speed += 0.08 * (walker.pref_speed - walker.speed) + rng.normal(0.0, 0.02)
            walker.speed = max(0.0, min(2.2, walker.speed))

        step = walker.speed * self.dt
        walker.x += step * math.cos(walker.heading)
        walker.z += step * math.sin(walker.heading)
        # People do not walk into the camera: stay at most a little below the bottom edge.
        walker.z = max(walker.z, area.z_near * 0.92)
        cycle = _CYCLE_PER_HEIGHT * walker.appearance.height_m
        walker.phase = (walker.phase + 2.0 * math.pi * step / cycle) % (2.0 * math.pi)

        walker.waypoint_age += 1
        # A waypoint counts as reached within 1 m; one not reached in 20 s is given up.
        if math.hypot(tx - walker.x, tz - walker.z) < 1.0 or walker.waypoint_age > 20 * cfg.fps:
            walker.waypoints.pop(0)
            walker.waypoint_age = 0
            if not walker.waypoints:
                walker.done = True
        far_out = abs(walker.x) > float(area.camera.half_width_m(walker.z)) + 4.0
        if far_out or walker.z > area.z_far + 3.0:
            walker.done = True

    def run(self, num_frames: int) -> list[WalkerTrack]:
        """Simulates ``num_frames`` frames and returns every walker's track."""
        cfg, rng = self.cfg, self.rng
        self.spawn_initial(int(round(cfg.target_people * 0.8)))
        for frame in range(num_frames):
            if frame > 0:
                deficit = max(0.0, cfg.target_people - len(self.active))
                if rng.random() < 0.06 * deficit + 0.01:
                    self.spawn_entry(frame)
                if rng.random() < cfg.encounter_prob:
                    self.spawn_encounter(frame)
            for walker in self.active:
                self.step(walker)
                walker.log.append((walker.x, walker.z, walker.heading, walker.phase, walker.speed))
            self.finished.extend(w for w in self.active if w.done)
            self.active = [w for w in self.active if not w.done]
        walkers = sorted(self.finished + self.active, key=lambda w: w.walker_id)
        tracks = []
        for w in walkers:
            log = np.asarray(w.log, dtype=np.float64).reshape(-1, 5)
            tracks.append(
                WalkerTrack(
                    walker_id=w.walker_id,
                    identity=w.identity,
                    appearance=w.appearance,
                    first_frame=w.first_frame,
                    x=log[:, 0],
                    z=log[:, 1],
                    heading=log[:, 2],
                    phase=log[:, 3],
                    speed=log[:, 4],
                )
            )
        return tracks


def simulate_walkers(
    area: WalkingArea,
    num_frames: int,
    cfg: MotionConfig,
    rng: np.random.Generator,
    identities: IdentitySampler,
) -> list[WalkerTrack]:
    """Simulates the people of one sequence.

    Args:
        area: Where people can walk (and the camera that sees it).
        num_frames: Number of frames to simulate.
        cfg: Motion parameters.
        rng: Random generator (the only source of randomness).
        identities: Hands out each new walker's appearance (look-alikes included).

    Returns:
        One :class:`WalkerTrack` per walker, in spawn order; some may never be in view.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return _Simulator(area, cfg, rng, identities).run(num_frames)
