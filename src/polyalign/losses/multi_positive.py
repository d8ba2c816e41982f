"""Multi-positive contrastive loss (MPCL Eq. 2) over groups of mutual translations.

Every sentence in the batch is an anchor; its positives are the other sentences of its group
(e.g. the other translations of the same source sentence), everything else is a negative.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ._checks import (
    LossInputError,
    check_choice,
    check_embeddings,
    check_group_ids,
    check_nonnegative_matrix,
    check_positive,
    check_same_dim,
)
from ._similarity import MINMAX_EPS, l2_normalize, minmax_logits, similarity

__all__ = ["MINMAX_EPS", "multi_positive_loss", "teacher_positive_weights"]

_FORMS = ("in", "out")
_SCOPES = ("all", "group")


def _masks(
    group_ids: Tensor,
    hard_group_ids: Tensor | None,
    n_hard: int,
    scope: str,
) -> tuple[Tensor, Tensor]:
    """(candidates, positives) boolean masks of shape (N, N + M); columns = batch then hard negatives."""
    n = group_ids.shape[0]
    not_self = ~torch.eye(n, dtype=torch.bool, device=group_ids.device)
    same = group_ids[:, None] == group_ids[None, :]
    if scope == "group":
        hard_cand = group_ids[:, None] == hard_group_ids[None, :]  # type: ignore[index]
    else:
        hard_cand = torch.ones(n, n_hard, dtype=torch.bool, device=group_ids.device)
    no_hard = torch.zeros(n, n_hard, dtype=torch.bool, device=group_ids.device)
    candidates = torch.cat([not_self, hard_cand], dim=1)
    positives = torch.cat([same & not_self, no_hard], dim=1)
    return candidates, positives


def multi_positive_loss(
    embeddings: Tensor,
    group_ids: Tensor,
    temperature: float = 0.05,
    minmax: bool = False,
    form: Literal["in", "out"] = "in",
    hard_negatives: Tensor | None = None,
    hard_negative_group_ids: Tensor | None = None,
    weights: Tensor | None = None,
    normalize: bool = True,
    hard_negative_scope: Literal["all", "group"] = "all",
) -> Tensor:
    r"""Multi-positive contrastive loss; every sentence is an anchor, its group mates are its positives.

    Notation: N sentences e_1..e_N with group ids g; P(i) = {k ≠ i : g_k = g_i} the positives of
    anchor i; C(i) = {j ≠ i} ∪ H(i) its candidates, where H(i) are the hard negatives (all M of
    them with ``hard_negative_scope="all"``, the default, as in MultipleNegativesRankingLoss; only
    those whose ``hard_negative_group_ids`` equals g_i with ``"group"``). z_ij = s(e_i, c_j)/τ,
    s the cosine similarity (plain dot product when ``normalize=False``).

    ``form="in"`` (MPCL Eq. 2, SupCon's L_in: log of a sum)::

        l_i = -log( Σ_{k∈P(i)} exp(z_ik) / Σ_{j∈C(i)} exp(z_ij) )

    ``form="out"`` (SupCon's L_out: sum of logs)::

        l_i = -(1/|P(i)|) Σ_{k∈P(i)} log( exp(z_ik) / Σ_{j∈C(i)} exp(z_ij) )

    L = mean of l_i over the anchors with |P(i)| ≥ 1; anchors without a group mate in the batch
    are skipped (they still serve as negatives for the others). If no anchor has a positive, a
    :class:`LossInputError` is raised: the loss would be undefined.

    L_in vs L_out. With |P(i)| = 1 they coincide. Otherwise L_in only asks that the positives
    *together* dominate the denominator (one very close translation can carry a distant one),
    while L_out is an average of per-pair InfoNCE terms, so every positive must stand out on its
    own; note that in L_out the *other* positives remain in each term's denominator, so
    translations of the same group compete with one another (SupCon found L_out the better
    objective). L_out is kept as an ablation of the multi-way alignment paper's "all languages as
    anchors" objective, :func:`~polyalign.losses.multiway_pair_loss`: that loss is also a mean of
    per-pair InfoNCE terms, but its denominators hold only the target language's sentences of the
    other groups, so an anchor's translations never act as negatives against one another.

    Min-max rescaling (``minmax=True``), following MPCL's "similarities are min-max scaled into
    [-1/τ, 1/τ]". Per anchor row, over its candidates C(i) (hard negatives included)::

        m_i = min_{j∈C(i)} s_ij,   M_i = max_{j∈C(i)} s_ij
        z_ij = (2 (s_ij - m_i) / max(M_i - m_i, MINMAX_EPS) - 1) / τ

    Rows are scaled separately so each anchor's softmax spans the full [-1/τ, 1/τ] range no matter
    how tight its similarities are (a single global scale would leave anchors in dense regions
    with nearly uniform softmaxes). m_i and M_i are *not* detached: the loss is then an honest
    function of the embeddings (``gradcheck`` holds) and invariant to any positive affine map of a
    row's similarities, and the exact gradient respects that invariance. Detaching would optimise
    a different objective, a per-row frozen temperature, whose gradient keeps pushing to widen the
    similarity spread although the reported loss cannot improve by doing so.

    Weights (``weights``, goes beyond the papers: MPCL names weighting positives as future work).
    An (N, N) non-negative tensor; only entries w_ik with k ∈ P(i) are read. They are normalised
    per anchor so Σ_{k∈P(i)} w̃_ik = |P(i)| (uniform weights then reproduce the unweighted loss and
    the loss scale does not depend on the weights' scale); every anchor with a positive must have
    a positive weight sum. L_in uses Σ_k w̃_ik exp(z_ik) as numerator; L_out becomes the weighted
    mean -(1/|P(i)|) Σ_k w̃_ik log softmax_ik. See :func:`teacher_positive_weights`.

    Args:
        embeddings: (N, d) sentences of the batch.
        group_ids: (N,) integer ids; equal ids mark mutual positives. Any integers, any group sizes.
        temperature: τ > 0.
        minmax: rescale each anchor's candidate similarities as above.
        form: ``"in"`` or ``"out"``.
        hard_negatives: optional (M, d) extra candidates; never positives, never anchors.
        hard_negative_group_ids: optional (M,) group each hard negative was mined for (e.g. the
            XNLI contradiction of that group's premise); required by ``hard_negative_scope="group"``.
        weights: optional (N, N) non-negative anchor–positive weights.
        normalize: L2-normalise embeddings (and hard negatives) first.
        hard_negative_scope: ``"all"`` (every hard negative in every anchor's denominator) or
            ``"group"`` (only in the denominators of its own group's anchors).

    Returns:
        A scalar tensor.
    """
    check_embeddings("embeddings", embeddings)
    n = embeddings.shape[0]
    gids = check_group_ids("group_ids", group_ids, n, embeddings.device)
    tau = check_positive("temperature", temperature)
    check_choice("form", form, _FORMS)
    check_choice("hard_negative_scope", hard_negative_scope, _SCOPES)

    hard_gids = None
    n_hard = 0
    if hard_negatives is not None:
        check_embeddings("hard_negatives", hard_negatives)
        check_same_dim("embeddings", embeddings, "hard_negatives", hard_negatives)
        n_hard = hard_negatives.shape[0]
        if hard_negative_group_ids is not None:
            hard_gids = check_group_ids(
                "hard_negative_group_ids", hard_negative_group_ids, n_hard, embeddings.device
            )
        elif hard_negative_scope == "group":
            raise LossInputError('hard_negative_scope="group" needs hard_negative_group_ids')
    elif hard_negative_group_ids is not None:
        raise LossInputError("hard_negative_group_ids was given without hard_negatives")
    if weights is not None:
        weights = check_nonnegative_matrix("weights", weights, (n, n)).to(embeddings.dtype)

    candidates, positives = _masks(gids, hard_gids, n_hard, hard_negative_scope)
    anchors = positives.any(dim=1)
    if not bool(anchors.any()):
        raise LossInputError(
            "group_ids: no sentence has a group mate in this batch (every id occurs once), so there is "
            "no positive pair; put at least two sentences of one group in the batch"
        )

    e = l2_normalize(embeddings, normalize)
    # Only anchors with a positive get a row: rows without one would be all -inf after masking.
    e_anchor = e[anchors]
    sims = similarity(e_anchor, e)
    if hard_negatives is not None:
        sims = torch.cat([sims, similarity(e_anchor, l2_normalize(hard_negatives, normalize))], dim=1)
    candidates, positives = candidates[anchors], positives[anchors]

    logits = minmax_logits(sims, tau, candidates, MINMAX_EPS) if minmax else sims / tau
    neg_inf = torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
    logits = torch.where(candidates, logits, neg_inf)
    log_denominator = torch.logsumexp(logits, dim=1)
    n_pos = positives.sum(dim=1).to(logits.dtype)

    if weights is None:
        w = positives.to(logits.dtype)
    else:
        w_pos = torch.where(positives[:, :n], weights[anchors], torch.zeros_like(weights[anchors]))
        w_sum = w_pos.sum(dim=1)
        if bool((w_sum <= 0).any()):
            raise LossInputError(
                "weights: every anchor with a positive needs a positive weight on at least one"
            )
        w = w_pos * (n_pos / w_sum)[:, None]
        w = torch.cat([w, w.new_zeros(w.shape[0], n_hard)], dim=1)

    if form == "in":
        # log Σ_k w̃_ik exp(z_ik) = logsumexp(z_ik + log w̃_ik); zero weights drop out as -inf.
        tiny = torch.finfo(logits.dtype).tiny
        weighted = torch.where(w > 0, logits + torch.log(w.clamp_min(tiny)), neg_inf)
        per_anchor = log_denominator - torch.logsumexp(weighted, dim=1)
    else:
        log_prob = logits - log_denominator[:, None]
        terms = torch.where(w > 0, w * log_prob, torch.zeros_like(log_prob))
        per_anchor = -terms.sum(dim=1) / n_pos
    return per_anchor.mean()


def teacher_positive_weights(
    teacher_embeddings: Tensor,
    group_ids: Tensor,
    temperature: float = 0.05,
    normalize: bool = True,
) -> Tensor:
    r"""Anchor–positive weights from a teacher's similarities among group mates.

    Goes beyond the papers (MPCL names weighting positives as future work)::

        w_ik = |P(i)| · exp(t_ik/τ_t) / Σ_{k'∈P(i)} exp(t_ik'/τ_t)   for k ∈ P(i), else 0

    with t the teacher's cosine similarity. Translations the teacher finds closer to the anchor get
    more weight; the |P(i)| factor matches the normalisation :func:`multi_positive_loss` applies.
    Rows of anchors without a group mate are all zero. The result is detached (a constant target).

    Args:
        teacher_embeddings: (N, d_t) teacher embeddings of the batch sentences.
        group_ids: (N,) integer group ids.
        temperature: teacher temperature τ_t > 0.
        normalize: L2-normalise the teacher embeddings first.

    Returns:
        (N, N) tensor suitable for ``multi_positive_loss(..., weights=...)``.
    """
    check_embeddings("teacher_embeddings", teacher_embeddings)
    n = teacher_embeddings.shape[0]
    gids = check_group_ids("group_ids", group_ids, n, teacher_embeddings.device)
    tau = check_positive("temperature", temperature)
    with torch.no_grad():
        t = l2_normalize(teacher_embeddings.detach(), normalize)
        logits = similarity(t, t) / tau
        not_self = ~torch.eye(n, dtype=torch.bool, device=t.device)
        positives = (gids[:, None] == gids[None, :]) & not_self
        has_pos = positives.any(dim=1, keepdim=True)
        # Rows without a positive would softmax over nothing; give them a dummy finite row, zeroed below.
        masked = torch.where(positives | ~has_pos, logits, torch.full_like(logits, float("-inf")))
        probs = torch.softmax(masked, dim=1)
        n_pos = positives.sum(dim=1, keepdim=True).to(t.dtype)
        return torch.where(positives, probs * n_pos, torch.zeros_like(probs))
