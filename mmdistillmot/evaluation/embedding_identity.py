"""How well appearance embeddings tell identities apart across frames (no tracker involved).

Given one embedding per ground-truth box of a sequence (with its identity and frame), two
views of the same question, "would appearance alone re-find this person in another frame?":

* ``nn_rate``: for every box whose identity appears in another frame, is its nearest
  neighbour (cosine) among the boxes of the *other* frames the same identity? Chance is about
  1 / (identities visible); a perfect embedding gives 1.
* ``same_cos`` / ``diff_cos``: the mean cosine similarity over pairs of boxes of the same
  identity in different frames, and over pairs of different identities; ``gap`` is their
  difference (the separation an appearance threshold can use).

``tools/analysis/embedding_identity.py`` computes them for tracking models on a MOTChallenge
sequence; the embeddings of the ground-truth boxes come from
:func:`~mmdistillmot.apis.video_tracking.public_detection_embeddings` (a one-stage model: the
embedding of the most-overlapping detector candidate; a two-stage model: its Re-ID network on
the crop).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["IdentityScores", "identity_scores"]


@dataclass(frozen=True)
class IdentityScores:
    """Identity separation of a set of embeddings (see the module docstring).

    Attributes:
        nn_rate: Fraction of eligible boxes whose cross-frame nearest neighbour shares their id.
        same_cos: Mean cosine of same-id pairs in different frames.
        diff_cos: Mean cosine of different-id pairs.
        gap: ``same_cos - diff_cos``.
        boxes: Embeddings scored.
        eligible: Boxes whose id appears in another frame (the ``nn_rate`` denominator).
        identities: Distinct ids.
    """

    nn_rate: float
    same_cos: float
    diff_cos: float
    gap: float
    boxes: int
    eligible: int
    identities: int

    def as_dict(self) -> dict[str, float | int]:
        """The scores as a plain dict (json)."""
        return asdict(self)


def identity_scores(embeddings: np.ndarray, ids: np.ndarray, frames: np.ndarray) -> IdentityScores:
    """Score embeddings [N, D] of boxes with identities [N] seen in frames [N].

    Args:
        embeddings: One row per box (any norm; L2-normalised here).
        ids: Identity of each box.
        frames: Frame of each box.

    Returns:
        The :class:`IdentityScores`.

    Raises:
        ValueError: Lengths differ, or fewer than two frames / two identities are present.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    ids = np.asarray(ids).reshape(-1)
    frames = np.asarray(frames).reshape(-1)
    if not (len(emb) == len(ids) == len(frames)):
        raise ValueError(f"got {len(emb)} embeddings, {len(ids)} ids and {len(frames)} frames")
    if len(np.unique(frames)) < 2 or len(np.unique(ids)) < 2:
        raise ValueError("identity scores need boxes of at least two frames and two identities")
    emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    cosine = emb @ emb.T
    other_frame = frames[:, None] != frames[None, :]
    same_id = ids[:, None] == ids[None, :]
    eligible = (other_frame & same_id).any(axis=1)
    masked = np.where(other_frame, cosine, -np.inf)
    nearest = masked.argmax(axis=1)
    hits = ids[nearest] == ids
    upper = np.triu(np.ones_like(same_id), k=1)
    same_pairs = upper & same_id & other_frame
    diff_pairs = upper & ~same_id
    same_cos = float(cosine[same_pairs].mean()) if same_pairs.any() else float("nan")
    diff_cos = float(cosine[diff_pairs].mean())
    return IdentityScores(
        nn_rate=float(hits[eligible].mean()) if eligible.any() else float("nan"),
        same_cos=same_cos,
        diff_cos=diff_cos,
        gap=same_cos - diff_cos,
        boxes=len(emb),
        eligible=int(eligible.sum()),
        identities=len(np.unique(ids)),
    )
