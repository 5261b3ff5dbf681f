"""Dual-Constraint Semantic Distillation (DCSD), equations 4-12 of the VSD-MOT paper.

Inputs: the student's output sequence ``S`` ``[n, 256]`` (one vector per query of a frame) and
the CLIP teacher's image feature ``T`` ``[1, 1024]`` of that frame::

    T_proj     = Linear_teacher(T)                        (4)   [1, 256]
    T_align    = Interpolate(T_proj) to length n          (5)   [n, 256]
    S_norm     = L2-normalise(S)                          (6)
    T_norm     = L2-normalise(T_align)                    (7)
    A          = softmax(S_norm T_norm^T / tau)           (8)   [n, n], tau = 2
    T_weighted = A T_align                                (9)   [n, 256]
    L_local    = MSE(S, T_weighted)                       (10)
    L_global   = L1(Mean(S), Mean(T_align))               (11)  means over the sequence
    L_distill  = w1 L_local + w2 L_global, (w1, w2) = softmax(learnable logits)   (12)

Where the paper is silent, this module chooses (and says so):

* *Interpolation* is 1-D linear interpolation along the sequence axis
  (``F.interpolate(mode='linear', align_corners=False)``). With the paper's single teacher
  token (``T`` is ``1 x 1024``) it replicates ``T_proj`` n times; longer teacher sequences
  ``[m, 1024]`` are resampled to n. **Consequence, worth knowing:** with one teacher token all
  rows of ``T_align`` are equal, so every row of ``A`` is uniform (``1/n``) and
  ``T_weighted = T_align``: equations 6-9 are then the identity and ``L_local`` is the MSE
  between each student vector and the projected teacher vector. The attention only matters for
  a teacher that gives several tokens.
* *Normalise* is L2 over the feature axis (each position's vector), softmax over the teacher
  positions (the last axis of ``A``).
* *MSE*, *L1* are means over all elements (``reduction='mean'``), batch included.
* Gradients flow through every term: ``Linear_teacher`` is trained by both terms, and the
  student receives gradients through ``A`` as well as directly. The paper does not detach
  anything; note that a trainable teacher projection lets the pair (student, projection) agree
  on a trivial target (e.g. a near-constant one) -- nothing in equations 4-12 prevents it.
* The weight logits start at zero (``w1 = w2 = 0.5``). Left free, they minimise the loss by
  moving weight to the smaller term (a property of equation 12 as written);
  ``learnable_weights=False`` keeps them at 0.5.

``dual_constraint=False`` gives the "+CLIP distillation" ablation row (Table V, No. 2/6):
the same projection and alignment, then a plain ``MSE(S, T_align)``, no attention, no global
term, no term weights: the weight logits are not even built (a parameter outside the graph
would need DDP's ``find_unused_parameters``, and a checkpoint would carry a meaningless value).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import nn

__all__ = ["DCSDLoss"]


def _as_sequence_batch(x: torch.Tensor, name: str, dim: int) -> torch.Tensor:
    """Bring student ``[n, D]`` / teacher ``[B, D]`` (or ``[D]``, ``[B, L, D]``) to 3 dims."""
    if x.shape[-1] != dim:
        raise ValueError(f"DCSDLoss: {name} must end with {dim} features, got {tuple(x.shape)}.")
    if x.dim() == 1:
        return x[None, None]
    if x.dim() == 2:
        return x[None] if name == "student" else x[:, None]
    if x.dim() == 3:
        return x
    raise ValueError(f"DCSDLoss: {name} must have 1-3 dims, got {tuple(x.shape)}.")


@MODELS.register_module()
class DCSDLoss(nn.Module):
    """Dual-constraint semantic distillation loss (trainable teacher projection inside).

    Args:
        student_dim: Feature size of the student sequence ``S`` (256).
        teacher_dim: Feature size of the teacher ``T`` (1024 for CLIP RN50 / ViT-H-14).
        tau: Temperature of the attention in equation 8 (2.0 in the paper).
        dual_constraint: True: equations 6-12 (DCSD). False: plain ``MSE(S, T_align)`` (the
            "+CLIP distillation" ablation).
        learnable_weights: Learn the logits of ``(w1, w2)`` (equation 12); False fixes 0.5/0.5.
            Only used with ``dual_constraint`` (the plain loss has no term weights).
        loss_weight: Multiplier of the returned loss (alpha is applied by the distiller).
    """

    def __init__(
        self,
        student_dim: int = 256,
        teacher_dim: int = 1024,
        tau: float = 2.0,
        dual_constraint: bool = True,
        learnable_weights: bool = True,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"DCSDLoss: tau must be positive, got {tau}.")
        self.student_dim = student_dim
        self.teacher_dim = teacher_dim
        self.tau = float(tau)
        self.dual_constraint = dual_constraint
        self.loss_weight = float(loss_weight)
        self.teacher_proj = nn.Linear(teacher_dim, student_dim)  # Linear_teacher, eq. 4
        # logits of (w1, w2); zeros -> softmax = (0.5, 0.5). Only DCSD has term weights.
        self.weight_logits: nn.Parameter | None = None
        if dual_constraint:
            self.weight_logits = nn.Parameter(torch.zeros(2), requires_grad=learnable_weights)

    @property
    def term_weights(self) -> torch.Tensor:
        """``(w1, w2)`` of equation 12: softmax of the learnable logits, ``[2]``.

        Raises:
            RuntimeError: With ``dual_constraint=False`` (no term weights).
        """
        if self.weight_logits is None:
            raise RuntimeError("DCSDLoss: dual_constraint=False has no term weights.")
        return self.weight_logits.softmax(dim=0)

    def align_teacher(self, teacher: torch.Tensor, length: int) -> torch.Tensor:
        """Equations 4-5: project the teacher and interpolate it to the student's length.

        Args:
            teacher: ``[B, D_t]`` (one token per sample, as CLIP's image feature) or
                ``[B, m, D_t]``.
            length: The student's sequence length ``n``.

        Returns:
            ``T_align``: ``[B, n, D_s]``.
        """
        t = _as_sequence_batch(teacher.float(), "teacher", self.teacher_dim)
        t_proj = self.teacher_proj(t)  # [B, m, D_s]
        if t_proj.shape[1] == length:
            return t_proj
        # interpolate along the sequence axis: [B, D_s, m] -> [B, D_s, n]
        aligned = F.interpolate(
            t_proj.transpose(1, 2), size=length, mode="linear", align_corners=False
        )
        return aligned.transpose(1, 2)

    def terms(self, student: torch.Tensor, teacher: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate of equations 4-11 (for inspection and tests).

        Args:
            student: ``S``: ``[B, n, D_s]`` or ``[n, D_s]``.
            teacher: ``T``: ``[B, D_t]``, ``[B, m, D_t]`` or ``[D_t]``.

        Returns:
            ``t_align [B, n, D_s]``, ``attention [B, n, n]``, ``t_weighted [B, n, D_s]``,
            ``local`` and ``global`` (scalars).
        """
        s = _as_sequence_batch(student.float(), "student", self.student_dim)
        t_align = self.align_teacher(teacher, s.shape[1])
        if t_align.shape[0] != s.shape[0]:
            if t_align.shape[0] != 1:
                raise ValueError(
                    f"DCSDLoss: student batch {s.shape[0]} and teacher batch "
                    f"{t_align.shape[0]} differ."
                )
            t_align = t_align.expand(s.shape[0], -1, -1)
        s_norm = F.normalize(s, p=2, dim=-1)  # eq. 6
        t_norm = F.normalize(t_align, p=2, dim=-1)  # eq. 7
        attention = (s_norm @ t_norm.transpose(1, 2) / self.tau).softmax(dim=-1)  # eq. 8
        t_weighted = attention @ t_align  # eq. 9
        local = F.mse_loss(s, t_weighted)  # eq. 10
        global_ = F.l1_loss(s.mean(dim=1), t_align.mean(dim=1))  # eq. 11
        return {
            "t_align": t_align,
            "attention": attention,
            "t_weighted": t_weighted,
            "local": local,
            "global": global_,
        }

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """Compute the distillation loss.

        Args:
            student: ``S``: ``[B, n, D_s]`` (or ``[n, D_s]``) student output sequence.
            teacher: ``T``: ``[B, D_t]`` (or ``[B, m, D_t]``) teacher features, no graph.

        Returns:
            Scalar ``loss_weight * (w1 L_local + w2 L_global)`` (DCSD), or
            ``loss_weight * MSE(S, T_align)`` with ``dual_constraint=False``.
        """
        if not self.dual_constraint:
            s = _as_sequence_batch(student.float(), "student", self.student_dim)
            t_align = self.align_teacher(teacher, s.shape[1]).expand_as(s)
            return self.loss_weight * F.mse_loss(s, t_align)
        parts = self.terms(student, teacher)
        w = self.term_weights
        return self.loss_weight * (w[0] * parts["local"] + w[1] * parts["global"])
