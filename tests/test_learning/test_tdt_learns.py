"""TDT learned: its student separates identities better after training than at its own init.

The student is the demo's ResNet-18 FPN TDT (``configs/tdt/tdt_r18_fpn_embed_synthetic.py``:
its head, anchors, losses and embedding branch) at a quarter of the channels, trained with
AdamW by a plain loop over ``model.loss`` on 24 frames (8 backgrounds) of 4 synthetic people.
The teacher is a stand-in of the pseudo embeddings ``LoadTeacherEmbeddings`` would give: per
identity a fixed random unit vector, plus noise per box. The student never sees identity labels.

Held out: 4 frames of the same 4 people on another background, in other places, sizes and
poses. Each ground-truth box gets the mean student embedding over the anchors the head's own
assigner gives it (what the embedding loss trains); the score is the mean cosine of
same-identity pairs minus that of different-identity pairs (:func:`identity_gap`).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from learning_testing import (
    REPO_ROOT,
    PeopleFrames,
    identity_gap,
    quiet_init,
    render_people,
    render_scenes,
)
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmdistillmot  # noqa: F401  (registers TDT, RetinaEmbedHead)

CONFIG = REPO_ROOT / "configs" / "tdt" / "tdt_r18_fpn_embed_synthetic.py"
NUM_PEOPLE = 4
TEACHER_DIM = 64
STEPS = 120
LR = 2e-3


def tiny_tdt_cfg() -> Config:
    """The config's TDT with ResNet-18 at 16 base channels and 32-channel FPN and subnets."""
    model = copy.deepcopy(Config.fromfile(str(CONFIG)).model)
    model.detector.backbone.update(base_channels=16, init_cfg=None)
    model.detector.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    model.detector.bbox_head.update(in_channels=32, feat_channels=32, embed_feat_channels=32)
    return model


def teacher_embeddings(frames: PeopleFrames, seed: int = 0, noise: float = 0.1) -> list[np.ndarray]:
    """A stand-in teacher: one random unit vector per identity, plus noise per box."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(NUM_PEOPLE, TEACHER_DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = []
    for ids in frames.ids:
        vec = centres[ids] + noise * rng.normal(size=(len(ids), TEACHER_DIM)) / np.sqrt(TEACHER_DIM)
        out.append((vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32))
    return out


def det_batch(frames: PeopleFrames, index: list[int], embeds: list[np.ndarray] | None) -> dict:
    """Frames ``index`` as a detection dataloader yields them (with teacher embeddings)."""
    height, width = frames.images[0].shape[:2]
    inputs, samples = [], []
    tensors = frames.tensors()
    for i in index:
        sample = DetDataSample(
            metainfo=dict(img_id=i, img_shape=(height, width), ori_shape=(height, width),
                          scale_factor=(1.0, 1.0))
        )  # fmt: skip
        gt = InstanceData(
            bboxes=torch.from_numpy(frames.boxes[i]),
            labels=torch.zeros(len(frames.boxes[i]), dtype=torch.long),
        )
        if embeds is not None:
            gt.teacher_embeds = torch.from_numpy(embeds[i])
        sample.gt_instances = gt
        inputs.append(tensors[i])
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@torch.no_grad()
def box_embeddings(
    model: torch.nn.Module, frames: PeopleFrames
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode student embedding of every gt box: mean over the anchors assigned to it."""
    model.eval()
    head = model.detector.bbox_head
    data = model.data_preprocessor(det_batch(frames, list(range(len(frames))), None), True)
    inputs, samples = data["inputs"], data["data_samples"]
    _, _, embed_preds = head(model.detector.extract_feat(inputs))
    metas = [s.metainfo for s in samples]
    gts = [s.gt_instances for s in samples]
    anchors, valid = head.get_anchors([p.shape[-2:] for p in embed_preds], metas, inputs.device)
    *_, assigned_per_level = head.get_targets(anchors, valid, gts, metas)
    assigned = torch.cat(assigned_per_level, dim=1)  # [B, all anchors], gt index or -1
    batch = inputs.size(0)
    flat = torch.cat(
        [p.permute(0, 2, 3, 1).reshape(batch, -1, head.embed_dim) for p in embed_preds], 1
    )
    embeddings, ids = [], []
    for b in range(batch):
        for k, person in enumerate(frames.ids[b]):
            rows = assigned[b] == k
            assert rows.any(), "every person box has an assigned anchor"
            embeddings.append(flat[b][rows].mean(0))
            ids.append(int(person))
    return torch.stack(embeddings), torch.tensor(ids)


def train_and_score(steps: int = STEPS, lr: float = LR, seed: int = 0) -> tuple[float, float]:
    """Identity gap on the held-out frames at init and after ``steps`` AdamW steps."""
    init_default_scope("mmdet")
    torch.manual_seed(seed)
    model = MODELS.build(tiny_tdt_cfg())
    quiet_init(model)
    train = render_scenes(8, 3, NUM_PEOPLE, seed=seed)  # 8 backgrounds x 3 frames
    held_out = render_people(4, NUM_PEOPLE, seed=seed + 100, look_seed=seed)
    embeds = teacher_embeddings(train, seed=seed)
    before = identity_gap(*box_embeddings(model, held_out))

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    order = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        index = order.choice(len(train), 4, replace=False).tolist()
        data = model.data_preprocessor(det_batch(train, index, embeds), True)
        loss, _ = model.parse_losses(model.loss(**data))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = identity_gap(*box_embeddings(model, held_out))
    return before, after


def test_tdt_student_separates_identities_after_training() -> None:
    before, after = train_and_score()
    # measured: -0.033 at init, 0.775 after 120 steps (steps=0 leaves -0.033)
    assert after > before + 0.3, (before, after)
    assert after > 0.4, (before, after)
