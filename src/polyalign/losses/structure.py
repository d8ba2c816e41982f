"""Keep each language's own similarity structure: a regulariser against a frozen reference model.

Cross-lingual training moves translations together, and with them it reshapes how sentences of
*one* language relate to each other — which is what monolingual STS and classification measure.
This term asks the student to keep, within every language of the batch, the *ordering* of sentence
pairs that a frozen reference (a copy of the base model) gives: the Pearson correlation between
the two models' same-language cosine similarities. A correlation, not a squared difference,
because contrastive training at τ = 0.05 rightly spreads the base's crowded similarities (me5:
unrelated sentences at cosine ≈ 0.8) towards 0; a shift or rescaling of all similarities changes
no STS Spearman score and is not penalised. Pairs across languages are left free: moving them is
the point of alignment.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import LossInputError, check_embeddings, check_group_ids
from ._similarity import l2_normalize, similarity

__all__ = ["monolingual_structure_loss"]

_VAR_EPS = 1e-12  # a language whose similarities are all equal has no ordering to keep


def monolingual_structure_loss(student: Tensor, reference: Tensor, lang_ids: Tensor) -> Tensor:
    r"""``1 − r``, averaged over the languages of the batch, where ``r`` is the Pearson correlation
    between the student's and the reference's cosine similarities of the language's sentence pairs::

        L = (1/|Λ|) Σ_{l ∈ Λ} (1 - corr({cos_S(i, j)}, {cos_R(i, j)})),   i < j, lang_i = lang_j = l

    Λ: the languages with at least three sentences in the batch (two pairs or fewer cannot be
    correlated meaningfully). Invariant to rotating a language's space and to shifting or scaling
    all its similarities; 0 when the orderings agree linearly, up to 2. Returns 0 (with a gradient
    path) when no language qualifies.

    Args:
        student: (N, d) student embeddings (any norm; compared as cosines).
        reference: (N, d') embeddings of the same sentences by the frozen reference (pass it
            detached); d' may differ from d — only its similarities are used.
        lang_ids: (N,) integer language id of each row.
    """
    check_embeddings("student", student)
    check_embeddings("reference", reference)
    if reference.shape[0] != student.shape[0]:
        raise LossInputError(
            f"reference must have one row per student row ({student.shape[0]}), got {reference.shape[0]}"
        )
    ids = check_group_ids("lang_ids", lang_ids, student.shape[0], student.device)
    s = l2_normalize(student)
    r = l2_normalize(reference.to(student.dtype))
    terms = []
    for lang in torch.unique(ids).tolist():
        rows = (ids == lang).nonzero().squeeze(1)
        if rows.numel() < 3:
            continue
        upper = torch.triu_indices(rows.numel(), rows.numel(), offset=1, device=student.device)
        a = similarity(s[rows], s[rows])[upper[0], upper[1]]
        b = similarity(r[rows], r[rows])[upper[0], upper[1]]
        a, b = a - a.mean(), b - b.mean()
        corr = (a * b).sum() / torch.sqrt((a.pow(2).sum() * b.pow(2).sum()).clamp_min(_VAR_EPS))
        terms.append(1 - corr)
    if not terms:
        return (student * 0).sum()
    return torch.stack(terms).mean()
