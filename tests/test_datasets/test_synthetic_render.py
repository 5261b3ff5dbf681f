"""Figures, occlusion and visibility of the synthetic generator, on constructed cases.

Visibility from the owner map is checked against the silhouettes themselves (an independent
count of overlapping or cut-off mask pixels), and the sequence renderer against a built scene:
a walker passing behind a pillar, another passing in front of it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mmdistillmot.datasets.synthetic import (
    FigurePose,
    IdentitySampler,
    Occluder,
    Sprite,
    WalkerTrack,
    draw_figure,
    measure_sprite,
    paste_sprite,
    render_frames,
    sample_appearance,
    sample_lookalike,
    sample_scene,
)

W, H = 200, 120


def _look(seed: int = 0):
    return sample_appearance(np.random.default_rng(seed))


def _pose(u: float, v: float, height: float = 60.0, heading: float = 0.0) -> FigurePose:
    return FigurePose(u=u, v=v, height_px=height, heading=heading, phase=0.7, gait=1.0)


def _blank() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.int32)


def _global_mask(sprite: Sprite) -> np.ndarray:
    """The sprite's silhouette placed in a large canvas (offset 100 px), independent of clipping."""
    canvas = np.zeros((H + 200, W + 200), bool)
    h, w = sprite.mask.shape
    canvas[sprite.top + 100 : sprite.top + 100 + h, sprite.left + 100 : sprite.left + 100 + w] = (
        sprite.mask
    )
    return canvas


def test_figure_size_and_full_visibility_when_alone() -> None:
    frame, labels = _blank()
    pose = _pose(100, 100, height=80)
    sprite = draw_figure(_look(), pose)
    paste_sprite(frame, labels, sprite, 1)
    (x, y, w, h), vis = measure_sprite(labels, sprite, 1)
    assert vis == 1.0
    # The silhouette stands on the foot point and is about as tall as asked (head to shoes).
    assert abs(h - 80) <= 0.08 * 80
    assert abs((y + h) - 100) <= 2
    assert 0.15 * 80 < w < 0.6 * 80
    assert frame[labels == 1].any()  # something was drawn where the label says


def test_visibility_under_a_person_in_front_matches_mask_overlap() -> None:
    frame, labels = _blank()
    far_sprite = draw_figure(_look(1), _pose(95, 80, height=55))
    near_sprite = draw_figure(_look(2), _pose(105, 110, height=70, heading=math.pi))
    paste_sprite(frame, labels, far_sprite, 1)  # far first, as the renderer does
    paste_sprite(frame, labels, near_sprite, 2)
    _, vis_far = measure_sprite(labels, far_sprite, 1)
    _, vis_near = measure_sprite(labels, near_sprite, 2)
    far, near = _global_mask(far_sprite), _global_mask(near_sprite)
    expected = 1.0 - np.count_nonzero(far & near) / np.count_nonzero(far)
    assert 0.0 < vis_far < 1.0
    assert vis_far == pytest.approx(expected, abs=1e-9)
    assert vis_near == 1.0


def test_scenery_in_front_hides_exactly_the_rows_it_covers() -> None:
    frame, labels = _blank()
    person = draw_figure(_look(3), _pose(100, 100, height=80))
    cut = 70  # a low wall in front covering every image row from 70 down
    wall = Sprite(
        image=np.full((H - cut, W, 3), 90, np.uint8),
        mask=np.ones((H - cut, W), bool),
        left=0,
        top=cut,
    )
    paste_sprite(frame, labels, person, 1)
    paste_sprite(frame, labels, wall, -1)
    (_, y, _, h), vis = measure_sprite(labels, person, 1)
    rows = np.arange(person.mask.shape[0]) + person.top
    expected = np.count_nonzero(person.mask[rows < cut]) / np.count_nonzero(person.mask)
    assert vis == pytest.approx(expected, abs=1e-9)
    assert 0.2 < vis < 0.8
    # The box stays the full (amodal) person, as in MOT17 ground truth.
    assert y + h == 100 or abs(y + h - 100) <= 2

    # The same wall behind the person hides nothing.
    frame, labels = _blank()
    paste_sprite(frame, labels, wall, -1)
    paste_sprite(frame, labels, person, 1)
    assert measure_sprite(labels, person, 1)[1] == 1.0


def test_image_border_truncates_box_and_visibility() -> None:
    frame, labels = _blank()
    person = draw_figure(_look(4), _pose(3, 100, height=80))  # half out on the left
    paste_sprite(frame, labels, person, 1)
    (x, y, w, h), vis = measure_sprite(labels, person, 1)
    cols = np.arange(person.mask.shape[1]) + person.left
    expected = np.count_nonzero(person.mask[:, cols >= 0]) / np.count_nonzero(person.mask)
    assert x == 0 and w > 0 and x + w <= W
    assert vis == pytest.approx(expected, abs=1e-9)
    assert 0.0 < vis < 1.0

    outside = draw_figure(_look(4), _pose(-60, 100, height=80))
    paste_sprite(frame, labels, outside, 2)
    assert measure_sprite(labels, outside, 2) is None


def test_lookalike_keeps_colours_but_differs() -> None:
    rng = np.random.default_rng(5)
    base = sample_appearance(rng)
    other = sample_lookalike(base, rng)
    assert other != base
    for name in ("top", "bottom"):
        assert np.abs(np.subtract(getattr(other, name), getattr(base, name))).max() < 40
    sampler = IdentitySampler(np.random.default_rng(0), lookalike_prob=1.0)
    sampler.new()
    sampler.new()
    assert sampler.lookalike_of == [-1, 0]


def _straight_track(walker_id: int, look, z: float, x0: float, x1: float, frames: int):
    xs = np.linspace(x0, x1, frames)
    return WalkerTrack(
        walker_id=walker_id,
        identity=walker_id,
        appearance=look,
        first_frame=0,
        x=xs,
        z=np.full(frames, z),
        heading=np.zeros(frames),
        phase=np.linspace(0, 6, frames),
        speed=np.full(frames, 1.2),
    )


def test_sequence_renderer_occludes_walker_behind_pillar_only() -> None:
    frames = 21
    scene = sample_scene(np.random.default_rng(0), 240, 144, frames, style="plaza")
    scene = replace(scene, jitter=np.zeros((frames, 2), np.int64))
    z_pillar = (scene.area.z_near + scene.area.z_far) / 2
    u, v, pm = scene.camera.project(0.0, z_pillar)
    half = int(0.5 * pm)
    height = int(6.0 * pm)
    pillar = Sprite(
        image=np.full((height, 2 * half, 3), 128, np.uint8),
        mask=np.ones((height, 2 * half), bool),
        left=int(u) - half,
        top=int(v) - height,
    )
    scene = replace(scene, occluders=(Occluder("pillar", 0.0, z_pillar, pillar),))
    behind = _straight_track(0, _look(6), z_pillar + 2.0, -2.0, 2.0, frames)
    # The other way round, so the two only meet (behind the pillar) mid-walk.
    z_front = (scene.area.z_near * 1.1 + z_pillar) / 2
    front = _straight_track(1, _look(7), z_front, 2.0, -2.0, frames)
    vis = {0: [], 1: []}
    for _, seen in render_frames(scene, [behind, front], np.random.default_rng(0)):
        for obs in seen:
            vis[obs.walker_id].append(obs.visibility)
    assert len(vis[0]) == frames and len(vis[1]) == frames
    # Behind the pillar: fully hidden when centred on it (the pillar is 1 m wide, the person
    # less than that), fully visible at the ends of the walk.
    assert min(vis[0]) == 0.0
    assert vis[0][0] == 1.0 and vis[0][-1] == 1.0
    # In front of the pillar: never hidden by it (the walker behind is farther away).
    assert min(vis[1]) == 1.0
