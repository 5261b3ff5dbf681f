"""MOTRv2 learned: it detects the boxes of a memorised clip, which its proposals do not give.

The model is the smallest CPU config's MOTRv2 (``configs/motrv2/motrv2_r18_synthetic_cpu.py``,
the MOTRv2 of ``configs/vsd_mot/motrv2_r18_synthetic-lq_cpu.py`` too: GroupNorm ResNet-18 from
scratch, 2 + 3 deformable layers, 10 detect queries, proposal queries, query denoising, QIMv2,
ClipMatcher, MOTRTracker), shrunk to 16 base channels and width 64. It trains with AdamW (the
config's lr drop x0.1 after 80% of the steps, gradient clip 0.1) by a plain loop over
``model.loss``, 180 steps on one intra-op thread, on one 3-frame clip of 3 synthetic people
walking right at 128x64 (``render_people(..., shuffle=False)``), the whole clip every step, as
``MOTRClipSample`` with ``num_frames=3`` would give it.

Proposals (the det-db's ``det_proposals``) are noisy ground truth: each person's box moved,
widened or narrowed until its IoU with the true box is in [0.4, 0.5) -- near the person, never
a hit at IoU 0.5 -- with a score in [0.5, 0.9], drawn afresh for every training step and once,
with another seed, for the scoring. Copying the proposals therefore scores 0 (checked), and at
init MOTRv2's proposal queries output exactly their proposal boxes (the box heads' last layers
start at zero): the model has to learn from the frames where the boxes are.

Score: AP at IoU 0.5 (:func:`detection_ap`) of MOTRv2's detections on every frame of the clip,
each frame run as the first frame of a video (``mode='tensor'``: the detect and proposal queries
of the last decoder layer, scored by their class probability, no tracker threshold), at init and
after training. The tracking pass over the clip (``mode='predict'``: carried track queries,
QIM, the tracker's thresholds lowered from 0.5 to 0.3) is scored too, by recall at IoU 0.5 of its
track outputs; in this budget the learned queries' scores hover around 0.5, so at 0.5 the recall
depended on the CPU (0.444 on an Intel Xeon, 0.000 on an AMD EPYC, seed 0 both).

Both scores move in jumps from one evaluation to the next at this size (9 boxes; a from-scratch
DETR-style model after a few hundred steps): other seeds gave AP 0.27 and 0.69, recall 0.56 and
0.89 after the same 180 steps, so the bounds are set below the measured seed-0 values.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from learning_testing import (
    REPO_ROOT,
    PeopleFrames,
    detection_ap,
    quiet_init,
    recall_at_iou,
    render_people,
    torch_threads,
)
from mmdet.registry import MODELS, TRANSFORMS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torchvision.ops import box_iou

import mmdistillmot  # noqa: F401  (registers MOTRv2, its parts and transforms)

CONFIG = REPO_ROOT / "configs" / "motrv2" / "motrv2_r18_synthetic_cpu.py"
NUM_PEOPLE = 3
NUM_FRAMES = 3  # the config's MOTRClipSample(num_frames=3)
SIZE = (128, 64)
HEIGHTS = (36.0, 52.0)
EMBED_DIMS = 64
BASE_CHANNELS = 16
STEPS = 180
#: The tracker's thresholds in the scored tracking pass (the config's: 0.5; see ``scores``).
TRACK_SCORE_THR = 0.3
LR = 1e-3
#: IoU range of a proposal with its person's box.
PROPOSAL_IOU = (0.4, 0.5)


def tiny_motrv2_cfg(cfg: Config) -> Config:
    """The config's MOTRv2 with a 16-channel ResNet-18 and width 64 (FFN 256, 4 heads)."""
    model = copy.deepcopy(cfg.model)
    dims, base = EMBED_DIMS, BASE_CHANNELS
    model.backbone.update(
        base_channels=base, norm_cfg=dict(type="GN", num_groups=base // 2, requires_grad=True)
    )
    model.neck.update(
        in_channels=[2 * base, 4 * base, 8 * base],
        out_channels=dims,
        norm_cfg=dict(type="GN", num_groups=dims // 4),
    )
    model.positional_encoding.num_feats = dims // 2
    model.encoder.layer_cfg.self_attn_cfg.embed_dims = dims
    model.encoder.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=4 * dims)
    model.decoder.layer_cfg.self_attn_cfg.embed_dims = dims
    model.decoder.layer_cfg.cross_attn_cfg.embed_dims = dims
    model.decoder.layer_cfg.ffn_cfg.update(embed_dims=dims, feedforward_channels=4 * dims)
    model.qim.update(embed_dims=dims, feedforward_channels=4 * dims)
    return model


def near_miss_proposals(
    boxes: np.ndarray, size: tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """``[n, 5]`` ``(x1, y1, x2, y2, score)``: each box moved and rescaled to an IoU in range.

    Shifts up to 0.3 of the width and 0.15 of the height, width and height scaled by up to
    ``e^0.5`` and ``e^0.4`` either way, redrawn until the IoU with the box is in
    :data:`PROPOSAL_IOU`.
    """
    width, height = size
    low, high = PROPOSAL_IOU
    out = []
    for box in boxes:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        w, h = box[2] - box[0], box[3] - box[1]
        while True:
            x = cx + rng.uniform(-0.3, 0.3) * w
            y = cy + rng.uniform(-0.15, 0.15) * h
            half_w = w * np.exp(rng.uniform(-0.5, 0.5)) / 2
            half_h = h * np.exp(rng.uniform(-0.4, 0.4)) / 2
            cand = np.clip([x - half_w, y - half_h, x + half_w, y + half_h], 0, [width, height] * 2)
            iou = float(box_iou(torch.tensor(box[None]), torch.tensor(cand[None]).float()))
            if low <= iou < high:
                break
        out.append([*cand, rng.uniform(0.5, 0.9)])
    return np.asarray(out, np.float32).reshape(-1, 5)


def clip_batch(pack, clip: PeopleFrames, proposals: list[np.ndarray]) -> dict:
    """The clip through ``PackTrackInputs`` as the config's pipeline leaves it, collated.

    The per-frame lists are what ``MOTRClipSample``, ``LoadImageFromFile``,
    ``LoadTrackAnnotations`` and ``LoadDetDBProposals`` give (no flip or resize: the frames have
    the network size already).
    """
    height, width = clip.images[0].shape[:2]
    num = len(clip)
    results = dict(
        img=list(clip.images), img_id=list(range(num)),
        img_path=[f"train/CLIP/img1/{t + 1:06d}.jpg" for t in range(num)],
        ori_shape=[(height, width)] * num, img_shape=[(height, width)] * num,
        scale_factor=[(1.0, 1.0)] * num, frame_id=list(range(num)), video_id=[0] * num,
        frame_stride=[1] * num, det_proposals=proposals,
        gt_bboxes=list(clip.boxes), gt_instances_ids=list(clip.ids),
        gt_bboxes_labels=[np.zeros(len(b), np.int64) for b in clip.boxes],
        gt_ignore_flags=[np.zeros(len(b), bool) for b in clip.boxes],
    )  # fmt: skip
    return pseudo_collate([pack(results)])


@torch.no_grad()
def scores(model: torch.nn.Module, data: dict, clip: PeopleFrames) -> tuple[float, float]:
    """Per-frame detection AP and the tracking pass's track-output recall on the clip."""
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(data), False)
    inputs, (sample,) = data["inputs"], data["data_samples"]
    detections = []
    for t in range(len(sample)):
        one = copy.deepcopy(sample)
        one.video_data_samples = [sample[t]]
        cls_logits, boxes = model(inputs[:, t : t + 1], [one], mode="tensor")
        img_h, img_w = sample[t].metainfo["img_shape"]
        pixels = bbox_cxcywh_to_xyxy(boxes[-1]) * boxes.new_tensor([img_w, img_h] * 2)
        detections.append((pixels.numpy(), cls_logits[-1].sigmoid().max(-1).values.numpy()))
    tracker = model.tracker
    saved = (tracker.init_score_thr, tracker.keep_score_thr, tracker.output_score_thr)
    # the tracking pass with looser thresholds: in this budget the learned queries' scores sit
    # around 0.5 and whether they cross it depends on the CPU's rounding (0.444 recall on one
    # machine, 0.000 on another with the same seed); at init the recall is 0 at any threshold
    # (the proposal boxes never hit at IoU 0.5), so what is tested is that the tracking path
    # carries the learned boxes
    tracker.init_score_thr = tracker.keep_score_thr = tracker.output_score_thr = TRACK_SCORE_THR
    try:
        (tracked,) = model(inputs, [copy.deepcopy(sample)], mode="predict")
    finally:
        tracker.init_score_thr, tracker.keep_score_thr, tracker.output_score_thr = saved
    outputs = [tracked[t].pred_track_instances.bboxes for t in range(len(tracked))]
    return detection_ap(detections, clip.boxes), recall_at_iou(outputs, clip.boxes)


def train_and_score(
    steps: int = STEPS, lr: float = LR, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """``(AP, track recall)`` at init and after ``steps`` steps, and the proposals' own AP."""
    init_default_scope("mmdet")
    cfg = Config.fromfile(str(CONFIG))
    train_pack = TRANSFORMS.build(cfg.train_pipeline[-1])  # PackTrackInputs, det_proposals kept
    test_pack = TRANSFORMS.build(cfg.test_pipeline[-1])
    with torch_threads(1):
        torch.manual_seed(seed)
        model = quiet_init(MODELS.build(tiny_motrv2_cfg(cfg)))
        clip = render_people(
            NUM_FRAMES, NUM_PEOPLE, size=SIZE, heights=HEIGHTS, shuffle=False, seed=seed
        )
        draw = np.random.default_rng([seed, 100])
        test_proposals = [near_miss_proposals(b, SIZE, draw) for b in clip.boxes]
        copied = detection_ap([(p[:, :4], p[:, 4]) for p in test_proposals], clip.boxes)
        test_data = clip_batch(test_pack, clip, test_proposals)
        before = scores(model, test_data, clip)

        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        draw = np.random.default_rng([seed, 200])
        for step in range(steps):
            if step == int(0.8 * steps):  # the config's MultiStepLR shape
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.1
            model.train()
            proposals = [near_miss_proposals(b, SIZE, draw) for b in clip.boxes]
            data = model.data_preprocessor(clip_batch(train_pack, clip, proposals), True)
            loss, _ = model.parse_losses(model.loss(**data))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
        after = scores(model, test_data, clip)
    return before, after, copied


def test_motrv2_detects_a_memorised_clip_beyond_its_proposals() -> None:
    (ap_before, recall_before), (ap_after, recall_after), copied = train_and_score()
    assert copied == 0.0  # the proposals themselves never hit at IoU 0.5
    # measured: AP 0.000 at init, 0.889 after 180 steps on an Intel Xeon, 0.617 on an AMD EPYC
    # (0.000 with steps=0); seeds 1 and 2 gave 0.27 and 0.69 (Xeon), so the margin leaves room
    # for another machine's rounding
    assert ap_before < 0.05, ap_before
    assert ap_after > ap_before + 0.2, (ap_before, ap_after)
    # measured (thresholds 0.3): track-output recall 0.000 at init, 0.778 after 180 steps on an
    # AMD EPYC (AP there 0.617)
    assert recall_after > recall_before + 0.25, (recall_before, recall_after)
