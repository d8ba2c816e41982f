"""Multi-way alignment loss: every language an anchor, one InfoNCE per ordered language pair.

The multi-way alignment paper's "all languages serve as anchors" objective: for every ordered
language pair (a, b) present in the batch, sentences in a are anchors, their translation in b is
the positive, and the *other groups'* sentences in b are the negatives. Unlike
:func:`~polyalign.losses.multi_positive_loss` (MPCL, SupCon L_in / L_out), a sentence's
translations into other languages never compete with one another in a denominator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import LossInputError, check_embeddings, check_group_ids, check_positive
from ._similarity import MINMAX_EPS, l2_normalize, minmax_logits, similarity

__all__ = ["multiway_pair_loss"]


def multiway_pair_loss(
    embeddings: Tensor,
    group_ids: Tensor,
    lang_ids: Tensor,
    temperature: float = 0.05,
    minmax: bool = False,
    normalize: bool = True,
) -> Tensor:
    r"""InfoNCE for every ordered language pair of the batch, averaged over the pairs.

    Notation: N sentences e_1..e_N with group ids g and language ids ℓ; each (group, language)
    occurs at most once (a group holds one translation per language). B_b = {j : ℓ_j = b} are the
    batch's sentences in language b; z_ij = s(e_i, e_j)/τ with s the cosine similarity (plain dot
    product when ``normalize=False``). For an ordered pair (a, b), a ≠ b, the anchors are
    A_ab = {i : ℓ_i = a and group g_i has a sentence p(i, b) in b}, and::

        l_i^{ab} = -log( exp(z_{i,p(i,b)}) / Σ_{j∈B_b} exp(z_ij) )
        L_ab     = (1/|A_ab|) Σ_{i∈A_ab} l_i^{ab}
        L        = mean of L_ab over the ordered pairs (a, b) with |A_ab| ≥ 1

    The denominator holds the positive and the other groups' sentences in b only: an anchor's
    translations into the other languages (and the sentences of other languages) are not
    candidates. With two languages this is the symmetric in-batch InfoNCE over the pairs.

    Averaging. Each ordered language pair weighs equally (mean over pairs of the per-pair mean
    over anchors), as in the paper's setting where every language serves as anchor towards every
    other: a direction is one alignment task, and a language pair that is rare in a ragged batch
    (groups missing languages) is not drowned by the frequent ones. When every group of the batch
    has all its languages, every pair has the same anchors and this equals the plain mean over all
    (anchor, positive) pairs.

    Min-max rescaling (``minmax=True``, MPCL's scaling applied per InfoNCE term): each anchor's
    similarities to its candidates B_b are rescaled into [-1/τ, 1/τ] separately for every target
    language b, as :func:`~polyalign.losses.info_nce` does for its single candidate set.

    A pair whose target language has a single sentence in the batch (the positive, no negative)
    contributes log 1 = 0. If no group has two languages in the batch, a :class:`LossInputError`
    is raised: the loss would be undefined.

    Args:
        embeddings: (N, d) sentences of the batch.
        group_ids: (N,) integer ids; equal ids mark translations of one another.
        lang_ids: (N,) integer language ids (any integers; equal ids = same language).
        temperature: τ > 0.
        minmax: rescale each (anchor, target language) candidate row as above.
        normalize: L2-normalise embeddings first.

    Returns:
        A scalar tensor.
    """
    check_embeddings("embeddings", embeddings)
    n = embeddings.shape[0]
    gids = check_group_ids("group_ids", group_ids, n, embeddings.device)
    lids = check_group_ids("lang_ids", lang_ids, n, embeddings.device)
    tau = check_positive("temperature", temperature)

    langs, lang_index = torch.unique(lids, return_inverse=True)  # ℓ_i ↦ 0..L-1
    n_langs = langs.shape[0]
    same_group = gids[:, None] == gids[None, :]
    same_lang = lang_index[:, None] == lang_index[None, :]
    if bool((same_group & same_lang).sum() > n):
        raise LossInputError(
            "group_ids/lang_ids: a group has two sentences in one language; "
            "the multi-way loss needs one translation per (group, language)"
        )
    positives = same_group & ~same_lang  # (i, p): p is i's translation into another language
    if not bool(positives.any()):
        raise LossInputError(
            "group_ids: no group has sentences in two languages in this batch, so there is no "
            "positive pair; put at least one group with two languages in the batch"
        )

    e = l2_normalize(embeddings, normalize)
    sims = similarity(e, e)
    # One candidate set per target language b: logits over the columns of B_b, reassembled into an
    # (N, N) matrix, and log Σ_{j∈B_b} exp(z_ij) for every row i → (N, L).
    columns = [torch.nonzero(lang_index == b).squeeze(1) for b in range(n_langs)]
    pieces, lse = [], []
    for cols in columns:
        s_b = sims[:, cols]
        z_b = minmax_logits(s_b, tau, None, MINMAX_EPS) if minmax else s_b / tau
        pieces.append(z_b)
        lse.append(torch.logsumexp(z_b, dim=1))
    order = torch.cat(columns)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n, device=order.device)
    logits = torch.cat(pieces, dim=1)[:, inverse]
    log_denominator = torch.stack(lse, dim=1)  # (N, L)

    anchor, positive = torch.nonzero(positives, as_tuple=True)
    terms = log_denominator[anchor, lang_index[positive]] - logits[anchor, positive]
    # Per ordered language pair (a, b): mean over its anchors; then mean over the pairs present.
    pair = lang_index[anchor] * n_langs + lang_index[positive]
    sums = terms.new_zeros(n_langs * n_langs).index_add(0, pair, terms)
    counts = torch.bincount(pair, minlength=n_langs * n_langs).to(terms.dtype)
    present = counts > 0
    return (sums[present] / counts[present]).mean()
