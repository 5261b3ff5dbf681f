"""MOTRv2: end-to-end tracking by query propagation, with detector proposals as anchors.

One frame (``forward_frame``):

1. ResNet-50 C3-C5 -> ``ChannelMapper`` (1x1 conv + GN, plus a stride-64 level) -> flattened
   multi-scale memory with sine positional encoding and a learned level embedding -> mmdet's
   deformable encoder.
2. Queries, in this order: ``num_queries`` learned detect queries (content and reference box
   embeddings), one query per detector proposal (reference box = proposal, content = sine
   embedding of its score + a learned vector), the tracks carried from the previous frame, and
   (training only) the denoising queries made from jittered ground truth, which the real queries
   cannot attend to.
3. ``MOTRDecoder``: positional query recomputed from the boxes at every layer, iterative box
   refinement; a class head and a box head per layer.
4. Hook: an optional ``query_refiner`` rewrites the real queries' features ``[B, N, C]``,
   either the content vectors going into the decoder (``query_refiner_position='pre_decoder'``,
   the default: VSD-MOT's Fig. 2 and 4, the semantic features reach self- and cross-attention)
   or the last decoder layer's output (``'post_decoder'``: before the last heads and before it
   is carried to the next frame).

Training runs a whole clip in one forward, frame after frame: ``ClipMatcher`` assigns targets
(carried tracks keep their object) and computes losses; ``QIMv2`` selects and updates the
queries carried into the next frame (not after the clip's last frame, whose carried queries
nothing would use). Inference runs the same per frame, with ``MOTRTracker`` giving and taking
identities.

Proposals are what makes MOTRv2 more than MOTR: ``loss`` and ``predict`` refuse frames that
carry none (no ``LoadDetDBProposals`` in the pipeline, or ``det_proposals`` missing from
``PackTrackInputs``' ``meta_keys``) unless ``allow_no_proposals=True``. A frame whose det-db
entry is empty is fine: it has an empty ``det_proposals``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors.deformable_detr import DeformableDETR
from mmdet.models.layers import (
    DeformableDetrTransformerEncoder,
    SinePositionalEncoding,
    inverse_sigmoid,
)
from mmdet.models.mot import BaseMOTModel
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh, get_box_tensor
from mmdet.utils import reduce_mean
from mmengine.model import ModuleList
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdistillmot.models.distillers.raw_frames import recover_raw_frames
from mmdistillmot.models.mot.motrv2.box_sine_embedding import box_sine_embedding
from mmdistillmot.models.mot.motrv2.motr_decoder import MOTRDecoder
from mmdistillmot.models.mot.motrv2.query_denoising import QueryDenoiser
from mmdistillmot.models.mot.motrv2.track_queries import make_track_queries

__all__ = ["MOTRv2", "MOTRFrameOutput", "REFINER_POSITIONS"]

#: Where the query refiner runs: on the decoder's input queries or on its last layer's output.
REFINER_POSITIONS = ("pre_decoder", "post_decoder")


@dataclass
class MOTRFrameOutput:
    """Everything one frame of MOTRv2 produces.

    Attributes:
        cls_logits (Tensor): ``[L, N, K]`` class logits of the ``N`` real queries per layer.
        boxes (Tensor): ``[L, N, 4]`` normalised ``(cx, cy, w, h)`` boxes per layer.
        denoise_boxes (Tensor | None): ``[L', M, 4]`` boxes of the denoising queries for the
            layers whose box loss they enter: all ``L``, or the first ``L - 1`` with a
            post-decoder refiner (the last box head then sees refined real queries only); None
            without denoising queries.
        decoder_queries (Tensor): ``[B, N, C]`` content vectors of the real queries as they
            entered the decoder (the refiner's output with a pre-decoder refiner).
        query_feats (Tensor): ``[B, N, C]`` last decoder layer output of the real queries, as
            the decoder produced it (before a post-decoder refiner).
        refined_query_feats (Tensor): ``[B, N, C]`` the features the last heads and QIM used
            (a post-decoder refiner's output, else ``query_feats``).
        tracks (InstanceData): Records of the ``N`` real queries (new ones first, then the
            carried tracks) with ``scores``, ``pred_boxes`` and ``output_embed`` filled in.
        extra_losses (dict[str, Tensor]): Losses returned by the query refiner, if any.
    """

    cls_logits: Tensor
    boxes: Tensor
    denoise_boxes: Tensor | None
    decoder_queries: Tensor
    query_feats: Tensor
    refined_query_feats: Tensor
    tracks: InstanceData
    extra_losses: dict[str, Tensor]


def _box_head(embed_dims: int) -> nn.Sequential:
    """Three-layer MLP ``C -> C -> C -> 4`` predicting a box delta in logit space."""
    return nn.Sequential(
        nn.Linear(embed_dims, embed_dims),
        nn.ReLU(inplace=True),
        nn.Linear(embed_dims, embed_dims),
        nn.ReLU(inplace=True),
        nn.Linear(embed_dims, 4),
    )


@MODELS.register_module()
class MOTRv2(BaseMOTModel):
    """MOTRv2 tracker (ResNet + deformable transformer + proposal/track queries).

    Args:
        backbone (dict): Backbone config (mmdet ``ResNet``, ``out_indices=(1, 2, 3)``).
        neck (dict): ``ChannelMapper`` config producing ``num_feature_levels`` maps of ``C``.
        encoder (dict): ``DeformableDetrTransformerEncoder`` config.
        decoder (dict): :class:`MOTRDecoder` config.
        positional_encoding (dict): ``SinePositionalEncoding`` config (``num_feats = C/2``).
        qim (dict): :class:`QIMv2` config.
        criterion (dict): :class:`ClipMatcher` config.
        tracker (dict): :class:`MOTRTracker` config.
        num_queries (int): Learned detect queries. Defaults to 10.
        num_classes (int): Foreground classes. Defaults to 1.
        num_feature_levels (int): Levels of the memory. Defaults to 4.
        query_denoise (float): Jitter of the denoising queries; 0 disables them. Defaults to
            0.05.
        query_refiner (dict, optional): A module ``refiner(query_feats=[B, N, C],
            frame=[B, 3, H, W]) -> [B, N, C]`` or ``-> ([B, N, C], dict of losses)`` applied to
            the real queries (``frame`` is the input in 0..255 before normalisation, padded, in
            the refiner's ``channel_order`` attribute, RGB when it has none). Its dict entries
            are averaged over the frames of a clip and returned with their own keys (entries
            without ``loss`` in the key are logged, not optimised). Defaults to None.
        query_refiner_position (str): ``'pre_decoder'``: the refiner rewrites the content
            vectors of the real queries going into the decoder (VSD-MOT's Fig. 2 / 4; the
            denoising queries stay as they are). ``'post_decoder'``: it rewrites the last
            decoder layer's output, which the last class and box heads and QIM then use; that
            layer's box head then gets no denoising loss (it would otherwise train on refined
            real and unrefined denoising features). Defaults to ``'pre_decoder'``.
        allow_no_proposals (bool): Let ``loss`` / ``predict`` run on frames without detector
            proposals (plain MOTR). Defaults to False: such a frame raises, naming the missing
            ``LoadDetDBProposals``.
        input_channel_order (str): Channel order of the frames the pipeline loaded (mmcv's
            ``LoadImageFromFile``: ``'bgr'``); with the preprocessor's flags it gives the
            order of the raw frame handed to the refiner. Defaults to ``'bgr'``.
        data_preprocessor (dict, optional): ``TrackDataPreprocessor`` config.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        backbone: dict,
        neck: dict,
        encoder: dict,
        decoder: dict,
        positional_encoding: dict,
        qim: dict,
        criterion: dict,
        tracker: dict,
        num_queries: int = 10,
        num_classes: int = 1,
        num_feature_levels: int = 4,
        query_denoise: float = 0.05,
        query_refiner: dict | None = None,
        query_refiner_position: Literal["pre_decoder", "post_decoder"] = "pre_decoder",
        allow_no_proposals: bool = False,
        input_channel_order: Literal["bgr", "rgb"] = "bgr",
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if query_refiner_position not in REFINER_POSITIONS:
            raise ValueError(
                f"query_refiner_position must be one of {REFINER_POSITIONS}, got "
                f"{query_refiner_position!r}"
            )
        if input_channel_order not in ("bgr", "rgb"):
            raise ValueError(
                f"input_channel_order must be 'bgr' or 'rgb', got {input_channel_order!r}"
            )
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.positional_encoding = SinePositionalEncoding(**positional_encoding)
        self.encoder = DeformableDetrTransformerEncoder(**encoder)
        self.decoder = MOTRDecoder(**decoder)
        self.embed_dims = self.decoder.embed_dims
        if self.encoder.embed_dims != self.embed_dims:
            raise ValueError(
                f"encoder width {self.encoder.embed_dims} != decoder width {self.embed_dims}"
            )
        self.num_queries = num_queries
        self.num_classes = num_classes
        self.num_feature_levels = num_feature_levels

        self.level_embed = nn.Parameter(torch.zeros(num_feature_levels, self.embed_dims))
        self.detect_content = nn.Embedding(num_queries, self.embed_dims)
        self.detect_boxes = nn.Embedding(num_queries, 4)
        self.proposal_content = nn.Embedding(1, self.embed_dims)
        num_layers = self.decoder.num_layers
        self.cls_branches = ModuleList(
            [nn.Linear(self.embed_dims, num_classes) for _ in range(num_layers)]
        )
        self.reg_branches = ModuleList([_box_head(self.embed_dims) for _ in range(num_layers)])
        self.denoiser = QueryDenoiser(self.embed_dims, query_denoise) if query_denoise > 0 else None
        self.qim = MODELS.build(qim)
        self.criterion = MODELS.build(criterion)
        self.tracker = MODELS.build(tracker)
        self.query_refiner = MODELS.build(query_refiner) if query_refiner is not None else None
        self.query_refiner_position = query_refiner_position
        self.allow_no_proposals = allow_no_proposals
        self.input_channel_order: Literal["bgr", "rgb"] = input_channel_order

    # ------------------------------------------------------------------ initialisation
    def init_weights(self) -> None:
        """Backbone from its own ``init_cfg``; transformer Xavier; heads as Deformable DETR."""
        super().init_weights()
        for module in (self.encoder, self.decoder, self.qim):
            for param in module.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
        for module in self.modules():
            if isinstance(module, MultiScaleDeformableAttention):
                module.init_weights()
        nn.init.normal_(self.level_embed)
        nn.init.uniform_(self.detect_boxes.weight, 0.0, 1.0)
        # Prior probability 0.01 for the foreground logit; zero box deltas, except the first
        # layer's (w, h) bias of -2 (Deformable DETR's iterative-refinement initialisation).
        prior_bias = -math.log((1 - 0.01) / 0.01)
        for cls_branch in self.cls_branches:
            nn.init.constant_(cls_branch.bias, prior_bias)
        for reg_branch in self.reg_branches:
            nn.init.zeros_(reg_branch[-1].weight)
            nn.init.zeros_(reg_branch[-1].bias)
        nn.init.constant_(self.reg_branches[0][-1].bias[2:], -2.0)

    # ------------------------------------------------------------------ image -> memory
    def encode(self, img: Tensor, data_sample: DetDataSample) -> dict[str, Tensor]:
        """Backbone, neck and deformable encoder for one frame.

        Args:
            img (Tensor): ``[B, 3, H, W]`` normalised (and padded) frame.
            data_sample (DetDataSample): Its metainfo (``img_shape``; ``batch_input_shape``
                when the preprocessor padded).

        Returns:
            dict[str, Tensor]: ``memory [B, S, C]``, ``key_padding_mask [B, S]``,
            ``spatial_shapes [lvl, 2]``, ``level_start_index [lvl]``, ``valid_ratios
            [B, lvl, 2]``.
        """
        feats = self.neck(self.backbone(img))
        if len(feats) != self.num_feature_levels:
            raise ValueError(
                f"the neck gives {len(feats)} levels, num_feature_levels={self.num_feature_levels}"
            )
        batch, _, pad_h, pad_w = img.shape
        img_h, img_w = data_sample.metainfo.get("img_shape", (pad_h, pad_w))[:2]
        pad_mask = img.new_ones(batch, pad_h, pad_w)
        pad_mask[:, :img_h, :img_w] = 0
        flat_feats, flat_masks, flat_pos, shapes, ratios = [], [], [], [], []
        for level, feat in enumerate(feats):
            mask = F.interpolate(pad_mask[None], size=feat.shape[-2:])[0].to(torch.bool)
            pos = self.positional_encoding(mask) + self.level_embed[level].view(1, -1, 1, 1)
            shapes.append(feat.shape[-2:])
            ratios.append(DeformableDETR.get_valid_ratio(mask))
            flat_feats.append(feat.flatten(2).transpose(1, 2))
            flat_pos.append(pos.flatten(2).transpose(1, 2))
            flat_masks.append(mask.flatten(1))
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=img.device)
        level_start_index = torch.cat(
            (spatial_shapes.new_zeros(1), spatial_shapes.prod(1).cumsum(0)[:-1])
        )
        valid_ratios = torch.stack(ratios, 1)
        key_padding_mask = torch.cat(flat_masks, 1)
        memory = self.encoder(
            query=torch.cat(flat_feats, 1),
            query_pos=torch.cat(flat_pos, 1),
            key_padding_mask=key_padding_mask,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
        )
        return dict(
            memory=memory,
            key_padding_mask=key_padding_mask,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios,
        )

    # ------------------------------------------------------------------ queries
    def new_queries(self, proposals: Tensor) -> InstanceData:
        """Detect queries followed by proposal queries.

        Args:
            proposals (Tensor): ``[K, 5]`` normalised ``(cx, cy, w, h, score)``.

        Returns:
            InstanceData: ``num_queries + K`` fresh records (see ``track_queries``).
        """
        # Proposals are detector outputs, i.e. inputs: no gradient flows back into them (boxes
        # or scores), while the learned detect anchors keep theirs (the decoder does not detach
        # its first layer's reference boxes).
        proposals = proposals.detach()
        score_content = box_sine_embedding(proposals[:, 4:5], num_feats=self.embed_dims)
        content = torch.cat(
            [self.detect_content.weight, score_content + self.proposal_content.weight]
        )
        ref_boxes = torch.cat([self.detect_boxes.weight, proposals[:, :4]])
        return make_track_queries(content, ref_boxes)

    @staticmethod
    def frame_proposals(data_sample: DetDataSample, device: torch.device | str) -> Tensor:
        """Normalised proposals of a frame.

        Args:
            data_sample (DetDataSample): A frame whose metainfo may hold ``det_proposals``:
                ``[K, 5]`` ``(x1, y1, x2, y2, score)`` in the pixels of the network input, as
                ``LoadDetDBProposals`` writes them; or whose ``proposals`` field (mmdet's
                ``InstanceData`` with ``bboxes`` and ``scores``) holds them.
            device (torch.device | str): Target device.

        Returns:
            Tensor: ``[K, 5]`` ``(cx, cy, w, h, score)`` normalised by ``img_shape``; ``[0, 5]``
            when the frame has no proposals.
        """
        if "proposals" in data_sample:
            bboxes = get_box_tensor(data_sample.proposals.bboxes).float().to(device)
            raw = torch.cat([bboxes, data_sample.proposals.scores.float().to(device)[:, None]], 1)
        else:
            raw_meta = data_sample.metainfo.get("det_proposals")
            if raw_meta is None:
                return torch.zeros(0, 5, device=device)
            raw = torch.as_tensor(np.asarray(raw_meta), dtype=torch.float32, device=device)
        if raw.numel() == 0:
            return torch.zeros(0, 5, device=device)
        img_h, img_w = data_sample.metainfo["img_shape"][:2]
        scale = raw.new_tensor([img_w, img_h, img_w, img_h])
        boxes = bbox_xyxy_to_cxcywh(raw[:, :4] / scale).clamp(0.0, 1.0)
        return torch.cat([boxes, raw[:, 4:5]], dim=1)

    @staticmethod
    def frame_gt(data_sample: DetDataSample) -> tuple[Tensor, Tensor, Tensor]:
        """Normalised ground truth of a frame.

        Args:
            data_sample (DetDataSample): A frame with ``gt_instances`` (``bboxes`` in pixels,
                ``labels``, ``instances_ids``).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``(cx, cy, w, h)`` boxes ``[M, 4]`` normalised by
            ``img_shape``, labels ``[M]`` and instance ids ``[M]``.

        Raises:
            KeyError: If the frame lacks ``instances_ids`` (use ``LoadTrackAnnotations``).
        """
        gt = data_sample.gt_instances
        if "instances_ids" not in gt:
            raise KeyError(
                "MOTRv2 needs gt_instances.instances_ids: load annotations with "
                "LoadTrackAnnotations and pack them with PackTrackInputs "
                f"(frame {data_sample.metainfo.get('img_path')})"
            )
        boxes = get_box_tensor(gt.bboxes).float()
        img_h, img_w = data_sample.metainfo["img_shape"][:2]
        scale = boxes.new_tensor([img_w, img_h, img_w, img_h])
        boxes = bbox_xyxy_to_cxcywh(boxes / scale).clamp(0.0, 1.0)
        return boxes, gt.labels.long().to(boxes.device), gt.instances_ids.long().to(boxes.device)

    def raw_frame(self, img: Tensor, channel_order: Literal["bgr", "rgb"] = "rgb") -> Tensor:
        """Undo the preprocessor's normalisation and channel flip (``recover_raw_frames``).

        Args:
            img (Tensor): ``[B, 3, H, W]`` normalised frame.
            channel_order (str): Channel order wanted. Defaults to ``'rgb'``.

        Returns:
            Tensor: ``[B, 3, H, W]`` on the 0..255 scale in ``channel_order``, no autograd.
        """
        return recover_raw_frames(
            img, self.data_preprocessor, self.input_channel_order, channel_order
        )

    def check_proposals(self, data_sample: DetDataSample) -> None:
        """Refuse a frame without detector proposals unless ``allow_no_proposals``.

        Args:
            data_sample (DetDataSample): A frame as the pipeline packed it.

        Raises:
            ValueError: If the frame has neither a ``proposals`` field nor ``det_proposals``
                in its metainfo and ``allow_no_proposals`` is False.
        """
        if self.allow_no_proposals or "proposals" in data_sample:
            return
        if "det_proposals" in data_sample.metainfo:
            return
        raise ValueError(
            f"MOTRv2: frame {data_sample.metainfo.get('img_path', '?')} has no detector "
            "proposals: add LoadDetDBProposals to the pipeline (and 'det_proposals' to "
            "PackTrackInputs' meta_keys), or set allow_no_proposals=True to run as plain MOTR"
        )

    # ------------------------------------------------------------------ one frame
    def forward_frame(
        self,
        img: Tensor,
        data_sample: DetDataSample,
        prev_tracks: InstanceData | None,
        denoise_gt: Tensor | None = None,
    ) -> MOTRFrameOutput:
        """Run the network on one frame.

        Args:
            img (Tensor): ``[1, 3, H, W]`` normalised frame.
            data_sample (DetDataSample): Its metainfo (``img_shape``, optional ``det_proposals``).
            prev_tracks (InstanceData | None): Track queries carried from the last frame.
            denoise_gt (Tensor, optional): ``[M, 4]`` normalised ground truth to build the
                denoising queries from (training); None disables them for this frame.

        Returns:
            MOTRFrameOutput: Predictions, query features and the updated query records.
        """
        if img.size(0) != 1:
            raise ValueError(
                f"MOTRv2 tracks one video per forward (batch size 1), got {img.size(0)}"
            )
        mem = self.encode(img, data_sample)
        tracks = self.new_queries(self.frame_proposals(data_sample, img.device))
        if prev_tracks is not None and len(prev_tracks) > 0:
            tracks = InstanceData.cat([tracks, prev_tracks])
        num_real = len(tracks)
        refiner_at = self.query_refiner_position if self.query_refiner is not None else None
        content = tracks.content
        extra_losses: dict[str, Tensor] = {}
        if refiner_at == "pre_decoder":
            refined_content, extra_losses = self.refine_queries(content[None], img)
            content = refined_content[0]
        decoder_queries = content[None]
        ref_boxes, attn_mask = tracks.ref_boxes, None
        num_dn = 0
        if self.denoiser is not None and denoise_gt is not None and denoise_gt.numel() > 0:
            dn_content, dn_boxes = self.denoiser(denoise_gt)
            num_dn = dn_boxes.size(0)
            content = torch.cat([content, dn_content])
            ref_boxes = torch.cat([ref_boxes, dn_boxes])
            attn_mask = self.denoiser.attention_mask(num_real, num_dn, img.device)

        hidden, refs_in, boxes = self.decoder(
            query=content[None],
            ref_boxes=ref_boxes[None],
            value=mem["memory"],
            key_padding_mask=mem["key_padding_mask"],
            spatial_shapes=mem["spatial_shapes"],
            level_start_index=mem["level_start_index"],
            valid_ratios=mem["valid_ratios"],
            reg_branches=self.reg_branches,
            self_attn_mask=attn_mask,
        )
        # hidden [L, 1, Nq, C]; split the real queries from the denoising ones.
        real_hidden = hidden[:, :, :num_real]
        real_boxes = boxes[:, 0, :num_real]
        query_feats = real_hidden[-1]
        refined = query_feats
        layer_feats = list(real_hidden.unbind(0))
        layer_boxes = list(real_boxes.unbind(0))
        if refiner_at == "post_decoder":
            refined, extra_losses = self.refine_queries(query_feats, img)
            layer_feats[-1] = refined
            last_ref = refs_in[-1, :, :num_real]
            delta = self.reg_branches[-1](refined)
            layer_boxes[-1] = (delta + inverse_sigmoid(last_ref)).sigmoid()[0]
        cls_logits = torch.stack(
            [branch(feat)[0] for branch, feat in zip(self.cls_branches, layer_feats)]
        )
        box_preds = torch.stack(layer_boxes)
        denoise_boxes = None
        if num_dn:
            # A post-decoder refiner changes the real queries of the last layer only: its box
            # head is trained on them alone, not also on the unrefined denoising features.
            dn_layers = boxes.size(0) - 1 if refiner_at == "post_decoder" else boxes.size(0)
            denoise_boxes = boxes[:dn_layers, 0, num_real:]

        tracks = tracks.clone()
        tracks.scores = cls_logits[-1].sigmoid().max(dim=-1).values.detach()
        tracks.pred_boxes = box_preds[-1]
        tracks.output_embed = refined[0]
        return MOTRFrameOutput(
            cls_logits=cls_logits,
            boxes=box_preds,
            denoise_boxes=denoise_boxes,
            decoder_queries=decoder_queries,
            query_feats=query_feats,
            refined_query_feats=refined,
            tracks=tracks,
            extra_losses=extra_losses,
        )

    def refine_queries(self, query_feats: Tensor, img: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Apply the optional query refiner (the hook for VSD's student and DSWR).

        Args:
            query_feats (Tensor): ``[B, N, C]`` the real queries: their content going into the
                decoder (pre-decoder refiner) or the last decoder layer's output (post-decoder).
            img (Tensor): ``[B, 3, H, W]`` normalised frame (the refiner gets it denormalised,
                in its ``channel_order``).

        Returns:
            tuple[Tensor, dict[str, Tensor]]: Refined ``[B, N, C]`` features (the input object
            itself when there is no refiner) and the refiner's losses (may be empty).

        Raises:
            ValueError: If the refiner changes the feature shape.
        """
        if self.query_refiner is None:
            return query_feats, {}
        order: Literal["bgr", "rgb"] = (
            "bgr" if getattr(self.query_refiner, "channel_order", "rgb") == "bgr" else "rgb"
        )
        out = self.query_refiner(query_feats=query_feats, frame=self.raw_frame(img, order))
        refined, losses = (out[0], dict(out[1])) if isinstance(out, tuple) else (out, {})
        if refined.shape != query_feats.shape:
            raise ValueError(
                f"query_refiner must keep the shape {tuple(query_feats.shape)}, "
                f"got {tuple(refined.shape)}"
            )
        return refined, losses

    # ------------------------------------------------------------------ training
    def loss(self, inputs: Tensor, data_samples: list[TrackDataSample], **kwargs) -> dict:
        """Losses of one clip, frames processed in order with track queries carried over.

        Args:
            inputs (Tensor): ``[1, T, 3, H, W]`` normalised clip.
            data_samples (list[TrackDataSample]): One ``TrackDataSample`` of ``T`` frames with
                ``gt_instances`` (``bboxes``, ``labels``, ``instances_ids``).
            **kwargs: Unused (mmdet's model interface).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou`` (last decoder layer),
            ``d{i}.*`` auxiliary layers, ``dn_*`` denoising terms, each summed over the clip's
            frames and divided by its number of GT boxes, plus any refiner entries (averaged over
            frames).

        Raises:
            ValueError: If a frame has no proposals (see :meth:`check_proposals`).
        """
        self._check_batch(inputs, data_samples)
        clip = data_samples[0]
        frames = [clip[t] for t in range(len(clip))]
        for frame in frames:
            self.check_proposals(frame)
        gts = [self.frame_gt(frame) for frame in frames]
        num_gt = inputs.new_tensor(float(sum(len(gt[0]) for gt in gts)))
        num_gt = reduce_mean(num_gt).clamp(min=1.0).item()

        losses: dict[str, Tensor] = defaultdict(lambda: inputs.new_zeros(()))
        tracks: InstanceData | None = None
        for t, (frame, (gt_boxes, gt_labels, gt_ids)) in enumerate(zip(frames, gts)):
            out = self.forward_frame(inputs[:, t], frame, tracks, denoise_gt=gt_boxes)
            frame_losses, matched_tracks = self.criterion(
                out.tracks,
                out.cls_logits,
                out.boxes,
                gt_boxes,
                gt_labels,
                gt_ids,
                num_gt,
                denoise_boxes=out.denoise_boxes,
            )
            for key, value in frame_losses.items():
                losses[key] = losses[key] + value
            for key, value in out.extra_losses.items():
                losses[key] = losses[key] + value / len(frames)
            if t < len(frames) - 1:  # after the last frame nothing would use the carried queries
                tracks = self.qim(matched_tracks, training=True)
        return dict(losses)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(
        self, inputs: Tensor, data_samples: list[TrackDataSample], rescale: bool = True, **kwargs
    ) -> list[TrackDataSample]:
        """Track through the given frames, continuing the tracker's state between calls.

        The tracker resets at every frame whose ``frame_id`` is 0, so frame-by-frame testing
        (``TrackImgSampler``) and whole-video testing both work.

        Args:
            inputs (Tensor): ``[1, T, 3, H, W]`` normalised frames of one video, in order.
            data_samples (list[TrackDataSample]): One ``TrackDataSample`` of ``T`` frames.
            rescale (bool): Report boxes in original image pixels (divide by
                ``scale_factor``). Defaults to True.
            **kwargs: Unused (mmdet's model interface).

        Returns:
            list[TrackDataSample]: The input sample, each frame with ``pred_track_instances``
            (``bboxes [n, 4]`` xyxy, ``scores [n]``, ``labels [n]``, ``instances_id [n]``).

        Raises:
            ValueError: If a frame has no proposals (see :meth:`check_proposals`).
        """
        self._check_batch(inputs, data_samples)
        clip = data_samples[0]
        for t in range(len(clip)):
            frame = clip[t]
            self.check_proposals(frame)
            if frame.metainfo.get("frame_id", t) == 0:
                self.tracker.reset()
            out = self.forward_frame(inputs[:, t], frame, self.tracker.carried)
            tracks = out.tracks
            tracks.obj_ids, tracks.miss_counts = self.tracker.update(
                tracks.scores, tracks.obj_ids, tracks.miss_counts
            )
            bboxes = self._to_pixels(tracks.pred_boxes, frame, rescale)
            keep = self.tracker.output_mask(tracks.scores, tracks.obj_ids, bboxes)
            labels = out.cls_logits[-1].argmax(dim=-1)
            pred = InstanceData()
            pred.bboxes = bboxes[keep]
            pred.scores = tracks.scores[keep]
            pred.labels = labels[keep]
            pred.instances_id = tracks.obj_ids[keep]
            frame.pred_track_instances = pred
            self.tracker.carried = self.qim(tracks, training=False)
        return [clip]

    def _forward(self, inputs: Tensor, data_samples: list[TrackDataSample] | None = None, **kwargs):
        """Network outputs of the first frame with no carried tracks (``mode='tensor'``).

        Args:
            inputs (Tensor): ``[1, T, 3, H, W]``.
            data_samples (list[TrackDataSample], optional): Frames' metainfo.
            **kwargs: Unused (mmdet's model interface).

        Returns:
            tuple[Tensor, Tensor]: Class logits ``[L, N, K]`` and boxes ``[L, N, 4]``.
        """
        frame = data_samples[0][0] if data_samples else DetDataSample()
        out = self.forward_frame(inputs[:, 0], frame, None)
        return out.cls_logits, out.boxes

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_batch(inputs: Tensor, data_samples: list[TrackDataSample]) -> None:
        if inputs.dim() != 5 or inputs.size(0) != 1 or len(data_samples) != 1:
            raise ValueError(
                "MOTRv2 takes one clip per forward: inputs [1, T, 3, H, W] and one "
                f"TrackDataSample, got inputs {tuple(inputs.shape)} and {len(data_samples)} "
                "samples (set batch_size=1 in the dataloader)"
            )

    @staticmethod
    def _to_pixels(boxes: Tensor, frame: DetDataSample, rescale: bool) -> Tensor:
        """Normalised ``(cx, cy, w, h)`` ``[N, 4]`` -> ``(x1, y1, x2, y2)`` pixels ``[N, 4]``."""
        img_h, img_w = frame.metainfo["img_shape"][:2]
        pixels = bbox_cxcywh_to_xyxy(boxes) * boxes.new_tensor([img_w, img_h, img_w, img_h])
        if rescale and "scale_factor" in frame.metainfo:
            scale_w, scale_h = frame.metainfo["scale_factor"][:2]
            pixels = pixels / pixels.new_tensor([scale_w, scale_h, scale_w, scale_h])
        return pixels
