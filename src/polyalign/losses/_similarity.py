"""Similarity helpers shared by the losses: L2 normalisation, cosine matrices, soft cross-entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["l2_normalize", "similarity", "soft_cross_entropy"]

# Guards the norm of an all-zero row; far below any real embedding norm.
_NORM_EPS = 1e-12


def l2_normalize(x: Tensor, enabled: bool = True) -> Tensor:
    """Rows scaled to unit L2 norm (``x / max(||x||, eps)``), or ``x`` unchanged when disabled."""
    return F.normalize(x, p=2.0, dim=-1, eps=_NORM_EPS) if enabled else x


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b.T``: cosine similarity when both sides are unit-norm rows."""
    return a @ b.transpose(0, 1)


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of ``-sum_j targets_ij * log_softmax(logits)_ij``.

    Zero targets are masked explicitly so a ``-inf`` logit paired with a zero target (a masked-out
    candidate) contributes 0 rather than ``0 * -inf = nan``.
    """
    log_p = torch.log_softmax(logits, dim=1)
    terms = torch.where(targets > 0, targets * log_p, torch.zeros_like(log_p))
    return -terms.sum(dim=1).mean()
