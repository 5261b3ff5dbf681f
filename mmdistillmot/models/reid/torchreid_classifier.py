"""Train a torchreid network (OSNet, ResNet-50, ...) as a Re-ID teacher with mmengine's Runner.

The classifier wraps the *whole* torchreid network as ``self.net``, so its weights are exactly
those a torchreid model-zoo file holds (``tools/distill/export_reid_teacher.py`` strips the
``net.`` prefix), and :class:`OSNetTeacher` loads them like any torchreid release. Training uses
cross-entropy with label smoothing on the identity logits plus a batch-hard triplet loss on
the embeddings (torchreid's usual recipe); the triplet sampler of mmdet's ``ReIDDataset``
provides P identities x K images per batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import ReIDDataSample
from mmengine.model import BaseModel
from torch import Tensor

__all__ = ["TorchreidClassifier"]


@MODELS.register_module()
class TorchreidClassifier(BaseModel):
    """A torchreid network trained on identity labels.

    Args:
        arch: torchreid architecture name (``osnet_x0_25``, ``osnet_x1_0``, ``resnet50``, ...).
        num_classes: Number of training identities.
        label_smoothing: Label smoothing of the cross-entropy (torchreid uses 0.1).
        triplet_margin: Margin of the batch-hard triplet loss; ``None`` disables it.
        triplet_weight: Weight of the triplet loss.
        data_preprocessor: mmdet's ``ReIDDataPreprocessor`` config.
        init_cfg: Initialisation config.
    """

    def __init__(
        self,
        arch: str,
        num_classes: int,
        label_smoothing: float = 0.1,
        triplet_margin: float | None = 0.3,
        triplet_weight: float = 1.0,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        from torchreid.reid.models import build_model  # slow import: only when built

        self.arch = arch
        self.net = build_model(arch, num_classes=num_classes, loss="triplet", pretrained=False)
        self.label_smoothing = label_smoothing
        self.triplet = None
        if triplet_margin is not None:
            triplet = dict(type="TripletLoss", margin=triplet_margin, loss_weight=triplet_weight)
            self.triplet = MODELS.build(triplet)

    def forward(
        self,
        inputs: Tensor,
        data_samples: list[ReIDDataSample] | None = None,
        mode: str = "tensor",
    ) -> Any:
        """Losses (``mode='loss'``), embeddings (``'predict'``/``'tensor'``).

        Args:
            inputs: Crops [B, 3, H, W], normalised by the data preprocessor.
            data_samples: Per crop, ``gt_label.label`` (identity index) for training.
            mode: ``'loss'``, ``'predict'`` or ``'tensor'``.

        Returns:
            A loss dict; the embeddings [B, D] (eval mode: torchreid's feature); or the data
            samples with ``pred_feature`` set.
        """
        if mode == "loss":
            if data_samples is None:
                raise ValueError("TorchreidClassifier: mode='loss' needs data_samples")
            labels = torch.cat([s.gt_label.label for s in data_samples]).to(inputs.device)
            logits, features = self.net(inputs)
            losses = dict(
                loss_cls=F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
            )
            if self.triplet is not None:
                losses["loss_triplet"] = self.triplet(features, labels)
            losses["accuracy"] = (logits.argmax(1) == labels).float().mean().detach()
            return losses
        was_training = self.net.training
        self.net.eval()  # torchreid returns the embedding (not logits) in eval mode
        features = self.net(inputs)
        self.net.train(was_training)
        if mode == "tensor" or data_samples is None:
            return features
        for sample, feature in zip(data_samples, features, strict=True):
            sample.pred_feature = feature
        return data_samples
