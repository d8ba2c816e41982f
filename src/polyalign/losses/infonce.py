"""InfoNCE with in-batch negatives (MPCL Eq. 1), optionally symmetric and with hard negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_embeddings, check_positive, check_same_dim, check_same_shape
from ._similarity import l2_normalize, minmax_logits, similarity

__all__ = ["info_nce"]


def info_nce(
    anchors: Tensor,
    positives: Tensor,
    temperature: float = 0.05,
    symmetric: bool = False,
    hard_negatives: Tensor | None = None,
    normalize: bool = True,
    minmax: bool = False,
) -> Tensor:
    r"""In-batch InfoNCE over B (anchor, positive) pairs.

    With s(u, v) the cosine similarity (rows are L2-normalised first when ``normalize``; with
    ``normalize=False`` s is the plain dot product) and τ the temperature::

        l_i = -log( exp(s(a_i, p_i)/τ) / [ Σ_j exp(s(a_i, p_j)/τ) + Σ_m exp(s(a_i, h_m)/τ) ] )
        L   = (1/B) Σ_i l_i

    The second denominator sum is over *all* M hard negatives, for every anchor (as in SimCSE and
    sentence-transformers' MultipleNegativesRankingLoss): a hard negative mined for one anchor is
    still a valid negative for the others, and sharing them costs nothing extra.

    With ``symmetric=True`` the loss is ``(L_{a→p} + L_{p→a}) / 2`` where ``L_{p→a}`` uses each
    positive as the query against all anchors. The positives→anchors direction does *not* use the
    hard negatives: they were mined as distractors for the anchors, and the reverse direction asks
    "which anchor belongs to this positive", where a hard negative is not a candidate anchor.

    Args:
        anchors: (B, d) embeddings.
        positives: (B, d) embeddings; ``positives[i]`` is the positive of ``anchors[i]``.
        temperature: τ > 0.
        symmetric: average with the positives→anchors direction.
        hard_negatives: optional (M, d) extra candidates (typically M = B, one per anchor).
        normalize: L2-normalise all embeddings first.
        minmax: MPCL's min-max scaling (as in :func:`multi_positive_loss`): each query's similarities
            to its candidates (all positives, plus the hard negatives in the forward direction) are
            rescaled into [-1/τ, 1/τ] before the softmax — the single-positive counterpart, so the
            scaling can be compared between the two losses on its own.

    Returns:
        A scalar tensor.
    """
    check_embeddings("anchors", anchors)
    check_embeddings("positives", positives)
    check_same_shape("anchors", anchors, "positives", positives)
    tau = check_positive("temperature", temperature)
    if hard_negatives is not None:
        check_embeddings("hard_negatives", hard_negatives)
        check_same_dim("anchors", anchors, "hard_negatives", hard_negatives)

    a = l2_normalize(anchors, normalize)
    p = l2_normalize(positives, normalize)
    sims = similarity(a, p)  # (B, B); the diagonal holds the positives
    labels = torch.arange(a.shape[0], device=a.device)

    def logits(s: Tensor) -> Tensor:
        return minmax_logits(s, tau) if minmax else s / tau

    forward = sims
    if hard_negatives is not None:
        h = l2_normalize(hard_negatives, normalize)
        forward = torch.cat([sims, similarity(a, h)], dim=1)
    loss = F.cross_entropy(logits(forward), labels)

    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits(sims.transpose(0, 1)), labels))
    return loss
