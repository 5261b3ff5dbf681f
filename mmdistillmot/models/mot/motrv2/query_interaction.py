"""QIMv2: which queries survive into the next frame, and how they are updated.

Selection, the same rule in training and at inference (MOTRv2's ``_select_active_tracks``): a
query survives when it carries an object / track id or scores above ``score_thr`` (0.5). At
inference the runtime tracker gives an id at score >= 0.5 and takes it away after a long run of
low scores. In training the id is the ClipMatcher's object; a survivor whose box overlaps that
object's ground truth with IoU <= ``train_iou_thr`` (0.5) keeps its query but loses the id
(``obj_ids = -1``), so the next frame's Hungarian matching may assign it again. Consequences, as
in MOTRv2: confident false positives are carried (and learn to be background), badly placed
tracks are re-matched instead of dropped, and a track whose object left the frame keeps its id
while its last IoU (the ClipMatcher keeps it from the frame it was matched in) is above 0.5.
Optionally a random fraction of the survivors is dropped in training to simulate missed tracks
(``random_drop``, off as in MOTRv2).

Update. Confident tracks (score > ``score_thr``) take their predicted box as the next reference
box, and their content query is rewritten from the decoder output: self-attention among the
surviving tracks (queries and keys = output + sine embedding of the new reference), a residual
FFN, then a second residual FFN added to the old content. Unconfident survivors keep their
reference and content unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding

__all__ = ["QIMv2"]


@MODELS.register_module()
class QIMv2(BaseModule):
    """Query interaction module of MOTRv2.

    Args:
        embed_dims (int): Query width ``C``. Defaults to 256.
        num_heads (int): Heads of the self-attention. Defaults to 8.
        feedforward_channels (int): Hidden width of both FFNs. Defaults to 1024.
        dropout (float): Dropout in attention and FFNs (0 in MOTRv2). Defaults to 0.0.
        score_thr (float): Score above which a track is kept (with or without an id) and
            updated. Defaults to 0.5.
        train_iou_thr (float): In training, kept tracks whose IoU with their GT is not above
            this lose their object id (-1: re-matched in the next frame). Defaults to 0.5.
        random_drop (float): In training, probability of dropping each surviving track.
            Defaults to 0.0 (off).
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(
        self,
        embed_dims: int = 256,
        num_heads: int = 8,
        feedforward_channels: int = 1024,
        dropout: float = 0.0,
        score_thr: float = 0.5,
        train_iou_thr: float = 0.5,
        random_drop: float = 0.0,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.score_thr = score_thr
        self.train_iou_thr = train_iou_thr
        self.random_drop = random_drop
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout, batch_first=True)
        self.ffn_in = nn.Linear(embed_dims, feedforward_channels)
        self.ffn_out = nn.Linear(feedforward_channels, embed_dims)
        self.norm_attn = nn.LayerNorm(embed_dims)
        self.norm_ffn = nn.LayerNorm(embed_dims)
        self.content_in = nn.Linear(embed_dims, feedforward_channels)
        self.content_out = nn.Linear(feedforward_channels, embed_dims)
        self.norm_content = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)

    def keep_mask(self, tracks: InstanceData, training: bool) -> Tensor:
        """Decide which queries survive into the next frame.

        Args:
            tracks (InstanceData): Records of this frame (fields of ``track_queries``).
            training (bool): Also apply ``random_drop`` (when set) to the survivors.

        Returns:
            Tensor: Boolean ``[N]``: has an id (``obj_ids >= 0``) or ``scores > score_thr``.
        """
        keep = (tracks.obj_ids >= 0) | (tracks.scores > self.score_thr)
        if training and self.random_drop > 0:
            keep &= torch.rand(keep.shape, device=keep.device) >= self.random_drop
        return keep

    def select(self, tracks: InstanceData, training: bool) -> InstanceData:
        """The surviving records; in training, the badly placed ones lose their object id.

        Args:
            tracks (InstanceData): Records of this frame (with ``iou`` from the ClipMatcher in
                training).
            training (bool): Training (ids of survivors with ``iou <= train_iou_thr`` become -1)
                or inference (ids untouched).

        Returns:
            InstanceData: The survivors (a new object; the input is not modified).
        """
        kept = tracks[self.keep_mask(tracks, training)]
        if training and len(kept) > 0:
            kept.obj_ids = torch.where(
                kept.iou > self.train_iou_thr, kept.obj_ids, torch.full_like(kept.obj_ids, -1)
            )
        return kept

    def update(self, tracks: InstanceData) -> InstanceData:
        """Move confident tracks to their predicted box and rewrite their content.

        Args:
            tracks (InstanceData): Surviving records, ``N`` of them.

        Returns:
            InstanceData: The same records with new ``ref_boxes`` and ``content`` for the
            confident ones (a new object; the input is not modified).
        """
        tracks = tracks.clone()
        if len(tracks) == 0:
            return tracks
        confident = tracks.scores > self.score_thr  # [N]
        ref_boxes = torch.where(confident[:, None], tracks.pred_boxes.detach(), tracks.ref_boxes)
        out_embed = tracks.output_embed[None]  # [1, N, C]
        query = out_embed + box_sine_embedding(ref_boxes, self.embed_dims // 4)[None]
        attn = self.self_attn(query, query, out_embed, need_weights=False)[0]
        hidden = self.norm_attn(out_embed + self.dropout(attn))
        ffn = self.ffn_out(self.dropout(F.relu(self.ffn_in(hidden))))
        hidden = self.norm_ffn(hidden + self.dropout(ffn))
        delta = self.content_out(self.dropout(F.relu(self.content_in(hidden))))
        new_content = self.norm_content(tracks.content + self.dropout(delta[0]))
        tracks.content = torch.where(confident[:, None], new_content, tracks.content)
        tracks.ref_boxes = ref_boxes
        return tracks

    def forward(self, tracks: InstanceData, training: bool) -> InstanceData:
        """Select the surviving queries and update them for the next frame.

        Args:
            tracks (InstanceData): All records of the current frame.
            training (bool): Training (random drop, ids taken from badly placed tracks) or
                inference.

        Returns:
            InstanceData: The track queries for the next frame.
        """
        return self.update(self.select(tracks, training))
