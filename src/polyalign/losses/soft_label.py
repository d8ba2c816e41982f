"""Soft-label contrastive loss with teacher targets, and the teacher-side target builders.

A batch holds B translation pairs (x_i, y_i). Instead of the one-hot InfoNCE target "y_i and only
y_i", each row gets a distribution W_i over the batch derived from a frozen teacher's similarities,
so near-paraphrases elsewhere in the batch are not pushed away as hard as unrelated sentences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ._checks import (
    LossInputError,
    check_choice,
    check_embeddings,
    check_positive,
    check_same_shape,
    check_targets,
)
from ._similarity import l2_normalize, similarity, soft_cross_entropy

__all__ = ["DEFAULT_PRIORITY", "priority_side", "soft_label_loss", "soft_targets"]

_STRATEGIES = ("priority", "average", "hard")

# English first: teachers are usually strongest there, so its similarity matrix is the most trusted.
DEFAULT_PRIORITY: tuple[str, ...] = ("en",)


def priority_side(lang_x: str, lang_y: str, priority: Sequence[str] = DEFAULT_PRIORITY) -> int:
    """Which side of a (x, y) pair the "priority" strategy should trust: 0 for x, 1 for y.

    The side whose language comes earlier in ``priority`` wins; a listed language beats an unlisted
    one; when neither (or the same language) is listed, x (0) is kept so the order is deterministic.
    Callers put the winning side first when calling :func:`soft_targets`.
    """
    rank = {lang: i for i, lang in enumerate(priority)}
    rx = rank.get(lang_x, len(rank))
    ry = rank.get(lang_y, len(rank))
    return 1 if ry < rx else 0


def soft_targets(
    teacher_x: Tensor,
    teacher_y: Tensor | None = None,
    strategy: Literal["priority", "average", "hard"] = "priority",
    teacher_temperature: float = 0.05,
    normalize: bool = True,
) -> Tensor:
    r"""Row-stochastic (B, B) targets W from teacher embeddings of a batch of translation pairs.

    With T_xx = cos(teacher_x, teacher_x) and T_yy = cos(teacher_y, teacher_y)::

        priority: W = softmax_row(T_xx / τ_t)          (x is the side given first: the priority language)
        average:  W = softmax_row(((T_xx + T_yy) / 2) / τ_t)
        hard:     W = I                                (the one-hot InfoNCE baseline)

    Both T matrices are symmetric, so W_ij is "how much item i relates to item j" and serves as
    target for either direction (x→y and y→x) of :func:`soft_label_loss`. The result is detached.

    Args:
        teacher_x: (B, d_t) teacher embeddings of the x side (the priority language).
        teacher_y: (B, d_t) teacher embeddings of the y side; required by ``"average"``.
        strategy: ``"priority"``, ``"average"`` or ``"hard"``.
        teacher_temperature: τ_t > 0.
        normalize: L2-normalise the teacher embeddings first.
    """
    check_choice("strategy", strategy, _STRATEGIES)
    check_embeddings("teacher_x", teacher_x)
    tau = check_positive("teacher_temperature", teacher_temperature)
    if teacher_y is not None:
        check_embeddings("teacher_y", teacher_y)
        check_same_shape("teacher_x", teacher_x, "teacher_y", teacher_y)
    b = teacher_x.shape[0]
    if strategy == "hard":
        return torch.eye(b, dtype=teacher_x.dtype, device=teacher_x.device)
    with torch.no_grad():
        tx = l2_normalize(teacher_x.detach(), normalize)
        t = similarity(tx, tx)
        if strategy == "average":
            if teacher_y is None:
                raise LossInputError(
                    'strategy="average" needs teacher_y (the teacher embeddings of the y side)'
                )
            ty = l2_normalize(teacher_y.detach(), normalize)
            t = 0.5 * (t + similarity(ty, ty))
        return torch.softmax(t / tau, dim=1)


def soft_label_loss(
    student_x: Tensor,
    student_y: Tensor,
    targets: Tensor,
    temperature: float = 0.05,
    symmetric: bool = True,
    tcm: bool = False,
    tcm_lambda: float = 1.0,
    normalize: bool = True,
) -> Tensor:
    r"""Cross-entropy between teacher targets W and the student's in-batch softmax.

    With S_ij = s(x_i, y_j)/τ (cosine; dot product when ``normalize=False``) and
    CE(W, Z) = -(1/B) Σ_i Σ_j W_ij log softmax_j(Z_i)::

        L_cross = CE(W, S)                              (symmetric=False)
        L_cross = (CE(W, S) + CE(W, Sᵀ)) / 2            (symmetric=True)

    The transposed direction (y_i as query over all x_j) uses the *same* W, not Wᵀ: W is a
    row-softmax of a symmetric teacher matrix, so row i is the teacher's distribution of item i
    over the batch whichever language item i is queried in (Wᵀ's rows would not even sum to 1).
    With W = I this is exactly symmetric (or one-way) :func:`info_nce`.

    TCM (``tcm=True``) adds the monolingual spaces with the same targets::

        L_mono = (CE(W, S_xx) + CE(W, S_yy)) / 2,   S_xx = s(x_i, x_j)/τ,  S_yy = s(y_i, y_j)/τ
        L      = tcm_lambda · L_cross + L_mono

    L_mono is averaged over its two spaces so it is on the scale of one L_cross direction. The
    diagonal of S_xx / S_yy is kept, as in the soft-CL paper's targets over all columns: the
    targets W are used unchanged (masking would need renormalised targets and would be undefined
    for W = I), and the self-similarity is a fixed 1/τ reference logit (for unit-norm rows) against
    which the off-diagonal similarities are pulled towards the teacher's own self-vs-other gap; for
    W = I the term reduces to a pure in-language uniformity (spread) term.

    Args:
        student_x: (B, d) student embeddings of the x side.
        student_y: (B, d) student embeddings of the y side; ``student_y[i]`` translates ``student_x[i]``.
        targets: (B, B) row-stochastic targets W, e.g. from :func:`soft_targets`.
        temperature: student temperature τ > 0.
        symmetric: add the y→x direction.
        tcm: add the monolingual terms.
        tcm_lambda: weight λ ≥ 0 of the cross-lingual term when ``tcm``.
        normalize: L2-normalise the student embeddings first.
    """
    check_embeddings("student_x", student_x)
    check_embeddings("student_y", student_y)
    check_same_shape("student_x", student_x, "student_y", student_y)
    tau = check_positive("temperature", temperature)
    w = check_targets("targets", targets, student_x.shape[0]).to(student_x.dtype)
    if (
        isinstance(tcm_lambda, bool)
        or not isinstance(tcm_lambda, (int, float))
        or not 0 <= tcm_lambda < math.inf
    ):
        raise LossInputError(f"tcm_lambda must be a finite number >= 0, got {tcm_lambda!r}")

    x = l2_normalize(student_x, normalize)
    y = l2_normalize(student_y, normalize)
    s = similarity(x, y) / tau
    loss = soft_cross_entropy(s, w)
    if symmetric:
        loss = 0.5 * (loss + soft_cross_entropy(s.transpose(0, 1), w))
    if tcm:
        mono = 0.5 * (
            soft_cross_entropy(similarity(x, x) / tau, w) + soft_cross_entropy(similarity(y, y) / tau, w)
        )
        loss = float(tcm_lambda) * loss + mono
    return loss
