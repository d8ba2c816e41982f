"""Soft-label contrastive loss with teacher targets, and the teacher-side target builders.

A batch holds B translation pairs (x_i, y_i). Instead of the one-hot InfoNCE target "y_i and only
y_i", each row gets a distribution W_i over the batch derived from a frozen teacher's similarities,
so near-paraphrases elsewhere in the batch are not pushed away as hard as unrelated sentences.

Reference implementation: IMASCL (Park et al., 2024), ``modules/AMETrainer.py`` at commit
c687c6037aafe1a82257f938d399207815a1b337 (``compute_loss``, ``_compute_loss_from_type``,
``_w_softmax``); ``combine="sum"`` with ``margin``/``positives`` reproduces its ``--loss_type CS
--w_func Softmax`` loss term for term (tests/test_losses_imascl.py follows its code path).
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
    check_matrix,
    check_nonnegative,
    check_positive,
    check_same_shape,
    check_targets,
)
from ._similarity import l2_normalize, similarity, soft_cross_entropy

__all__ = [
    "COMBINES",
    "DEFAULT_PRIORITY",
    "combine_terms",
    "positive_mask",
    "priority_side",
    "soft_label_loss",
    "soft_targets",
    "teacher_similarity",
]

_STRATEGIES = ("priority", "average", "hard")
# How the per-space, per-direction terms add up: "sum" = IMASCL's compute_loss (AMETrainer.py:163-168),
# "mean" = directions averaged and the two monolingual spaces averaged (polyalign's earlier form).
COMBINES = ("sum", "mean")

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


def teacher_similarity(
    teacher_x: Tensor,
    teacher_y: Tensor | None = None,
    strategy: Literal["priority", "average", "hard"] = "priority",
    normalize: bool = True,
) -> Tensor:
    r"""The teacher's (B, B) similarity matrix T for a batch of translation pairs (detached).

    With T_xx = cos(teacher_x, teacher_x) and T_yy = cos(teacher_y, teacher_y)::

        priority: T = T_xx                 (x is the side given first: the priority language)
        average:  T = (T_xx + T_yy) / 2    (similarities averaged, *then* softmaxed by soft_targets)
        hard:     T = I                    (no teacher; IMASCL's get_pseudo_mask_eye)

    Args:
        teacher_x: (B, d_t) teacher embeddings of the x side (the priority language).
        teacher_y: (B, d_t) teacher embeddings of the y side; required by ``"average"``.
        strategy: ``"priority"``, ``"average"`` or ``"hard"``.
        normalize: L2-normalise the teacher embeddings first.
    """
    check_choice("strategy", strategy, _STRATEGIES)
    check_embeddings("teacher_x", teacher_x)
    if teacher_y is not None:
        check_embeddings("teacher_y", teacher_y)
        check_same_shape("teacher_x", teacher_x, "teacher_y", teacher_y)
    if strategy == "hard":
        b = teacher_x.shape[0]
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
    return t


def positive_mask(teacher_sims: Tensor, threshold: float = 0.95) -> Tensor:
    """Boolean (B, B) mask of the entries the teacher calls positives: ``teacher_sims > threshold``.

    IMASCL subtracts its additive margin from the student's similarity on exactly these entries
    (AMETrainer.py:229, 250): every (i, j), diagonal or not, whose teacher similarity exceeds the
    threshold, so near-duplicates in a batch get the margin too. With a unit-norm teacher the
    diagonal (1.0) is always included; with ``"hard"`` similarities (I) only the diagonal is.
    """
    check_matrix("teacher_sims", teacher_sims)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise LossInputError(f"threshold must be a finite number, got {threshold!r}")
    return teacher_sims.detach() > float(threshold)


def soft_targets(
    teacher_x: Tensor,
    teacher_y: Tensor | None = None,
    strategy: Literal["priority", "average", "hard"] = "priority",
    teacher_temperature: float = 0.05,
    normalize: bool = True,
) -> Tensor:
    r"""Row-stochastic (B, B) targets W from teacher embeddings of a batch of translation pairs.

    With T from :func:`teacher_similarity`::

        priority, average: W = softmax_row(T / τ_t)
        hard:              W = I                      (the one-hot InfoNCE baseline)

    T is symmetric, so W_ij is "how much item i relates to item j" and serves as target for either
    direction (x→y and y→x) of :func:`soft_label_loss`. The result is detached. (IMASCL's
    ``--w_func Softmax`` without a teacher softmaxes I as well, giving rows e^{1/τ_t}/(e^{1/τ_t}+B-1)
    on the diagonal instead of exactly 1; its ``--w_func raw`` gives I.)

    Args:
        teacher_x: (B, d_t) teacher embeddings of the x side (the priority language).
        teacher_y: (B, d_t) teacher embeddings of the y side; required by ``"average"``.
        strategy: ``"priority"``, ``"average"`` or ``"hard"``.
        teacher_temperature: τ_t > 0.
        normalize: L2-normalise the teacher embeddings first.
    """
    tau = check_positive("teacher_temperature", teacher_temperature)
    t = teacher_similarity(teacher_x, teacher_y, strategy, normalize)
    if strategy == "hard":
        return t
    return torch.softmax(t / tau, dim=1)


def combine_terms(
    cross: Sequence[Tensor], mono: Sequence[Sequence[Tensor]], combine: str, tcm_lambda: float
) -> Tensor:
    """``cross``: the cross-lingual terms, one per direction; ``mono``: per monolingual space, its
    terms one per direction (empty without TCM). ``"sum"``: λ·Σ cross + Σ mono (IMASCL);
    ``"mean"``: λ·mean(cross) + mean over spaces of mean over directions. λ applies with TCM only."""
    lam = float(tcm_lambda) if mono else 1.0
    if combine == "sum":
        return lam * sum(cross) + sum(sum(space) for space in mono)
    loss = lam * (sum(cross) / len(cross))
    if mono:
        loss = loss + sum(sum(space) / len(space) for space in mono) / len(mono)
    return loss


def soft_label_loss(
    student_x: Tensor,
    student_y: Tensor,
    targets: Tensor,
    temperature: float = 0.05,
    symmetric: bool = True,
    tcm: bool = False,
    tcm_lambda: float = 1.0,
    normalize: bool = True,
    margin: float = 0.0,
    positives: Tensor | None = None,
    combine: Literal["sum", "mean"] = "sum",
) -> Tensor:
    r"""Cross-entropy between teacher targets W and the student's in-batch softmax.

    With s_ij = s(x_i, y_j) (cosine; dot product when ``normalize=False``), the positives mask M
    and the logits S_ij = (s_ij − m·M_ij)/τ (the margin m is subtracted *before* dividing by τ), and
    CE(W, Z) = -(1/B) Σ_i Σ_j W_ij log softmax_j(Z_i), each space contributes one term per
    direction::

        cross:  CE(W, S)    and, when symmetric, CE(W, S') with S'_ij = (s_ji − m·M_ji)/τ
        TCM:    CE(W, S_xx) (+ CE(W, S_xxᵀ)) and CE(W, S_yy) (+ CE(W, S_yyᵀ)),
                S_xx = (s(x_i, x_j) − m·M_ij)/τ, S_yy likewise; the same W and M as the cross term

    and ``combine`` adds them up (see :func:`combine_terms`)::

        "sum":  L = λ·(CE(W, S) + CE(W, S')) + Σ_spaces (CE(W, S_ss) + CE(W, S_ssᵀ))
        "mean": L = λ·(CE(W, S) + CE(W, S'))/2 + (CE(W, S_xx) + CE(W, S_yy))/2

    ``"sum"`` with λ = 1 is IMASCL's ``compute_loss`` (AMETrainer.py:163-168 at c687c60): the
    mono spaces are symmetric, so each counts twice and carries twice the relative weight it has
    under ``"mean"`` (polyalign's earlier form, kept under that name; there the mono term is on the
    scale of one cross direction). Without TCM the two differ by a factor 2 only.

    The margin is IMASCL's (``--margin``, ``--positive_threshold``; ``_w_softmax`` at
    AMETrainer.py:249-250): ``positives`` is a boolean (B, B) mask, normally
    :func:`positive_mask` of the teacher similarities (every entry above the threshold, off-diagonal
    near-duplicates included); None means the diagonal (the translation pairs) — with W = I that is
    the additive-margin softmax of Yang et al. (2019). The transposed direction uses Mᵀ.

    The transposed direction (y_i as query over all x_j) uses the *same* W, not Wᵀ: W is a
    row-softmax of a symmetric teacher matrix, so row i is the teacher's distribution of item i
    over the batch whichever language item i is queried in (Wᵀ's rows would not even sum to 1;
    IMASCL softmaxes the transposed teacher matrix, which is the same W). With W = I, no margin and
    ``combine="mean"`` this is exactly symmetric (or one-way) :func:`info_nce`.

    The diagonal of S_xx / S_yy is kept, as in IMASCL's targets over all columns: the targets W are
    used unchanged (masking would need renormalised targets and would be undefined for W = I), and
    the self-similarity is a fixed 1/τ reference logit (for unit-norm rows) against which the
    off-diagonal similarities are pulled towards the teacher's own self-vs-other gap; for W = I the
    term reduces to a pure in-language uniformity (spread) term.

    Args:
        student_x: (B, d) student embeddings of the x side.
        student_y: (B, d) student embeddings of the y side; ``student_y[i]`` translates ``student_x[i]``.
        targets: (B, B) row-stochastic targets W, e.g. from :func:`soft_targets`.
        temperature: student temperature τ > 0.
        symmetric: add the transposed direction of every space.
        tcm: add the monolingual terms.
        tcm_lambda: weight λ ≥ 0 of the cross-lingual term when ``tcm``.
        normalize: L2-normalise the student embeddings first.
        margin: additive margin m ≥ 0 on the positives (0 = off).
        positives: boolean (B, B) mask of the entries that get the margin (None: the diagonal).
        combine: ``"sum"`` (IMASCL) or ``"mean"``.
    """
    check_embeddings("student_x", student_x)
    check_embeddings("student_y", student_y)
    check_same_shape("student_x", student_x, "student_y", student_y)
    tau = check_positive("temperature", temperature)
    b = student_x.shape[0]
    w = check_targets("targets", targets, b).to(student_x.dtype)
    lam = check_nonnegative("tcm_lambda", tcm_lambda)
    check_choice("combine", combine, COMBINES)
    shift = margin_shift(margin, positives, b, student_x)

    x = l2_normalize(student_x, normalize)
    y = l2_normalize(student_y, normalize)

    def terms(sims: Tensor) -> list[Tensor]:
        out = [soft_cross_entropy((sims - shift) / tau, w)]
        if symmetric:
            out.append(soft_cross_entropy((sims.transpose(0, 1) - shift.transpose(0, 1)) / tau, w))
        return out

    mono = [terms(similarity(x, x)), terms(similarity(y, y))] if tcm else []
    return combine_terms(terms(similarity(x, y)), mono, combine, lam)


def margin_shift(margin: float, positives: Tensor | None, b: int, like: Tensor) -> Tensor:
    """(B, B) tensor m·M to subtract from the student's similarities (zeros when m = 0)."""
    m = check_nonnegative("margin", margin)
    if positives is None:
        mask = torch.eye(b, dtype=torch.bool, device=like.device)
    else:
        if not isinstance(positives, Tensor) or positives.dtype != torch.bool:
            raise LossInputError("positives must be a boolean torch.Tensor mask (see positive_mask)")
        if tuple(positives.shape) != (b, b):
            raise LossInputError(f"positives must have shape {(b, b)}, got {tuple(positives.shape)}")
        mask = positives.to(like.device)
    return mask.to(like.dtype) * m
