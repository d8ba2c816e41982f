"""Similarity helpers shared by the losses: L2 normalisation, cosine matrices, soft cross-entropy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MINMAX_EPS", "l2_normalize", "minmax_logits", "similarity", "soft_cross_entropy"]

# Guards the norm of an all-zero row; far below any real embedding norm.
_NORM_EPS = 1e-12
# Floor on a row's similarity spread in min-max scaling: only reached when all candidates of an anchor
# are (numerically) equally similar, where any finite scale gives the same (uniform) softmax.
MINMAX_EPS = 1e-6


def l2_normalize(x: Tensor, enabled: bool = True) -> Tensor:
    """Rows scaled to unit L2 norm (``x / max(||x||, eps)``), or ``x`` unchanged when disabled."""
    return F.normalize(x, p=2.0, dim=-1, eps=_NORM_EPS) if enabled else x


def similarity(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b.T``: cosine similarity when both sides are unit-norm rows."""
    return a @ b.transpose(0, 1)


def minmax_logits(
    sims: Tensor, tau: float, candidates: Tensor | None = None, eps: float = MINMAX_EPS
) -> Tensor:
    """MPCL's min-max scaling: each row's candidate similarities rescaled into [-1/τ, 1/τ].

    ``z_ij = (2 (s_ij - m_i) / max(M_i - m_i, eps) - 1) / τ`` with ``m_i``/``M_i`` the row's min/max
    over its candidates (``candidates``: boolean mask; None = every column). Differentiable (min and
    max pass gradients to their arg-entries); non-candidate entries are rescaled too but must be
    masked by the caller."""
    if candidates is None:
        row_min = sims.amin(dim=1, keepdim=True)
        row_max = sims.amax(dim=1, keepdim=True)
    else:
        big = torch.finfo(sims.dtype).max
        row_min = sims.masked_fill(~candidates, big).amin(dim=1, keepdim=True)
        row_max = sims.masked_fill(~candidates, -big).amax(dim=1, keepdim=True)
    spread = (row_max - row_min).clamp_min(eps)
    return (2.0 * (sims - row_min) / spread - 1.0) / tau


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of ``-sum_j targets_ij * log_softmax(logits)_ij``.

    Zero targets are masked explicitly so a ``-inf`` logit paired with a zero target (a masked-out
    candidate) contributes 0 rather than ``0 * -inf = nan``.
    """
    log_p = torch.log_softmax(logits, dim=1)
    terms = torch.where(targets > 0, targets * log_p, torch.zeros_like(log_p))
    return -terms.sum(dim=1).mean()
