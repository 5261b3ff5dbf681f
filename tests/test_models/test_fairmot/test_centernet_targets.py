"""CenterNet targets against hand-worked values on an 8x8 output grid (stride 4)."""

from __future__ import annotations

import math

import pytest
import torch

from mmdistillmot.models.dense_heads.centernet_targets import (
    build_centernet_targets,
    centernet_gaussian_radius,
    draw_gaussian,
)


def test_gaussian_radius_matches_centernet_formula_by_hand() -> None:
    # 10x10 box, min_overlap 0.7: case 3 gives (b3 + sqrt(b3^2 - 4 a3 c3)) / 2 with
    # a3 = 4 * 0.7 = 2.8, b3 = -2 * 0.7 * 20 = -28, c3 = -0.3 * 100 = -30
    # -> (-28 + sqrt(784 + 336)) / 2; cases 1 and 2 give 19.07 and 36.73.
    assert centernet_gaussian_radius(10, 10, 0.7) == pytest.approx((-28 + math.sqrt(1120)) / 2)
    assert centernet_gaussian_radius(10, 10, 0.7) == pytest.approx(2.7332005, abs=1e-6)
    # 4x4 box: a3 = 2.8, b3 = -11.2, c3 = -4.8 -> radius 1.0933 (int 1).
    assert centernet_gaussian_radius(4, 4, 0.7) == pytest.approx(
        (-11.2 + math.sqrt(11.2**2 + 4 * 2.8 * 4.8)) / 2
    )


def test_one_object_targets_by_hand() -> None:
    # Box (6, 10)-(22, 26) in input pixels -> (1.5, 2.5)-(5.5, 6.5) on the grid: 4x4 cells,
    # centre (3.5, 4.5), integer centre (3, 4), offset (0.5, 0.5), ltrb (2, 2, 2, 2), radius 1.
    targets = build_centernet_targets(
        [torch.tensor([[6.0, 10.0, 22.0, 26.0]])],
        [torch.tensor([0])],
        [torch.tensor([7])],
        feat_shape=(8, 8),
        stride=4,
    )
    heatmap = targets.heatmap[0, 0]
    expected = torch.zeros(8, 8)
    # radius 1 -> sigma = 3 / 6 = 0.5: neighbours exp(-1 / 0.5), diagonals exp(-2 / 0.5)
    expected[4, 3] = 1.0
    for dy, dx in [(-1, 0), (1, 0), (0, -1), (0, 1)]:
        expected[4 + dy, 3 + dx] = math.exp(-2)
    for dy, dx in [(-1, -1), (-1, 1), (1, -1), (1, 1)]:
        expected[4 + dy, 3 + dx] = math.exp(-4)
    torch.testing.assert_close(heatmap, expected)
    assert targets.heatmap.shape == (1, 1, 8, 8)
    assert targets.indices.tolist() == [[4 * 8 + 3]]
    assert targets.mask.tolist() == [[True]]
    torch.testing.assert_close(targets.ltrb, torch.tensor([[[2.0, 2.0, 2.0, 2.0]]]))
    torch.testing.assert_close(targets.offset, torch.tensor([[[0.5, 0.5]]]))
    assert targets.identities.tolist() == [[7]]
    assert targets.num_objects == 1


def test_centre_is_clipped_but_ltrb_reaches_the_unclipped_box() -> None:
    # Grid box (-3, 1)-(1, 5): centre x = -1 is clipped to 0; ltrb from (0, 3): (3, 2, 1, 2).
    targets = build_centernet_targets(
        [torch.tensor([[-12.0, 4.0, 4.0, 20.0]])], [torch.tensor([0])], [None], (8, 8), stride=4
    )
    assert targets.indices.tolist() == [[3 * 8 + 0]]
    torch.testing.assert_close(targets.ltrb, torch.tensor([[[3.0, 2.0, 1.0, 2.0]]]))
    torch.testing.assert_close(targets.offset, torch.tensor([[[0.0, 0.0]]]))
    assert targets.identities.tolist() == [[-1]]  # no identity labels


def test_batch_padding_overlap_and_degenerate_boxes() -> None:
    boxes_a = torch.tensor([[0.0, 0.0, 16.0, 16.0], [4.0, 4.0, 20.0, 20.0], [8.0, 8.0, 8.0, 12.0]])
    targets = build_centernet_targets(
        [boxes_a, torch.zeros(0, 4)],
        [torch.zeros(3, dtype=torch.long), torch.zeros(0, dtype=torch.long)],
        [torch.tensor([0, -1, 2]), torch.zeros(0, dtype=torch.long)],
        (8, 8),
    )
    # K is the most objects in one image; the zero-width third box gets no target.
    assert targets.mask.tolist() == [[True, True, False], [False, False, False]]
    assert targets.identities.tolist() == [[0, -1, -1], [-1, -1, -1]]
    # Overlapping Gaussians keep the maximum: both centres stay exactly 1.
    assert targets.heatmap[0, 0, 2, 2] == 1.0 and targets.heatmap[0, 0, 3, 3] == 1.0
    assert float(targets.heatmap.max()) == 1.0
    assert float(targets.heatmap[1].abs().sum()) == 0.0


def test_draw_gaussian_crops_at_the_border() -> None:
    heatmap = torch.zeros(3, 3)
    draw_gaussian(heatmap, (0, 0), radius=2)
    assert heatmap[0, 0] == 1.0
    assert heatmap[2, 2] == pytest.approx(math.exp(-8 / (2 * (5 / 6) ** 2)), rel=1e-6)


def test_label_outside_classes_is_an_error() -> None:
    with pytest.raises(ValueError, match="label 1"):
        build_centernet_targets(
            [torch.tensor([[0.0, 0.0, 8.0, 8.0]])], [torch.tensor([1])], [None], (4, 4)
        )
