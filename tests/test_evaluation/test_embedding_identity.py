"""identity_scores worked by hand on small embedding sets."""

from __future__ import annotations

import numpy as np
import pytest

from mmdistillmot.evaluation.embedding_identity import identity_scores


def test_scores_by_hand() -> None:
    # frame 1: ids 1, 2; frame 2: ids 1, 2; id 3 only in frame 2 (not eligible)
    emb = np.array(
        [
            [1.0, 0.0],  # f1 id1
            [0.0, 2.0],  # f1 id2 (norm 2: normalised away)
            [0.8, 0.6],  # f2 id1: cos 0.8 with f1 id1, 0.6 with f1 id2
            [0.6, 0.8],  # f2 id2: cos 0.6 with f1 id1, 0.8 with f1 id2
            [1.0, 0.0],  # f2 id3: nearest in frame 1 is id1 -> a miss, but not eligible
        ]
    )
    ids = np.array([1, 2, 1, 2, 3])
    frames = np.array([1, 1, 2, 2, 2])
    scores = identity_scores(emb, ids, frames)
    # nearest other-frame neighbours: f1 id1 -> f2 id3 (cos 1.0): miss; f1 id2 -> f2 id2 (0.8):
    # hit; f2 id1 -> f1 id1 (0.8): hit; f2 id2 -> f1 id2 (0.8): hit
    assert scores.eligible == 4 and scores.nn_rate == pytest.approx(3 / 4)
    # same-id pairs in different frames: (f1 id1, f2 id1) 0.8, (f1 id2, f2 id2) 0.8
    assert scores.same_cos == pytest.approx(0.8)
    # the 8 different-id pairs (a..e = the rows above): ab 0, ad 0.6, ae 1, bc 0.6, be 0,
    # cd 0.96, ce 0.8, de 0.6 -> 4.56 / 8
    assert scores.diff_cos == pytest.approx(0.57)
    assert scores.gap == pytest.approx(0.8 - 0.57)
    assert (scores.boxes, scores.identities) == (5, 3)


def test_perfect_embeddings_score_one() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    ids = np.repeat(np.arange(4), 5)
    frames = np.tile(np.arange(5), 4)
    emb = centres[ids] + 1e-3 * rng.normal(size=(20, 16))
    scores = identity_scores(emb, ids, frames)
    assert scores.nn_rate == 1.0 and scores.same_cos == pytest.approx(1.0, abs=1e-4)


def test_degenerate_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="two frames and two identities"):
        identity_scores(np.ones((2, 3)), np.array([1, 2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="3 embeddings, 2 ids"):
        identity_scores(np.ones((3, 3)), np.array([1, 2]), np.array([1, 2]))
