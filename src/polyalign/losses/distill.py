"""MSE distillation baselines: onto the teacher's embeddings (Reimers & Gurevych, 2020) or onto
the teacher's similarity matrix (IMASCL's ``--loss_type MMSE``)."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from ._checks import (
    check_choice,
    check_embeddings,
    check_matrix,
    check_nonnegative,
    check_positive,
    check_same_dim,
    check_same_shape,
)
from ._similarity import l2_normalize, similarity
from .soft_label import COMBINES, combine_terms

__all__ = ["mse_distillation", "similarity_mse"]


def mse_distillation(
    student_x: Tensor,
    student_y: Tensor,
    teacher_x: Tensor,
    normalize: bool = False,
) -> Tensor:
    r"""``MSE(student_x, teacher_x) + MSE(student_y, teacher_x)``.

    The student maps the source sentence x_i *and* its translation y_i onto the teacher's
    embedding of x_i, which aligns the languages in the teacher's space::

        L = (1/(B·d)) Σ_i ||S(x_i) - T(x_i)||² + (1/(B·d)) Σ_i ||S(y_i) - T(x_i)||²

    Each MSE is a mean over all B·d elements (torch's ``reduction="mean"``, as in the paper's
    sentence-transformers implementation). No normalisation by default: the method matches raw
    embeddings, norms included; ``normalize=True`` L2-normalises all three first. The student and
    teacher dimensions must match (add a projection to the student otherwise). ``polyalign train
    --loss mse`` passes the teacher's embeddings exactly as its model outputs them (a teacher
    ending in a ``Normalize`` module gives unit vectors, one without gives raw ones) and the
    student's likewise.

    Args:
        student_x: (B, d) student embeddings of the source sentences.
        student_y: (B, d) student embeddings of their translations.
        teacher_x: (B, d) teacher embeddings of the source sentences (a target; pass it detached).
        normalize: L2-normalise before comparing.
    """
    check_embeddings("student_x", student_x)
    check_embeddings("student_y", student_y)
    check_embeddings("teacher_x", teacher_x)
    check_same_shape("student_x", student_x, "student_y", student_y)
    # Dimension first: the likely mistake is a teacher with a different width than the student.
    check_same_dim("student_x", student_x, "teacher_x", teacher_x)
    check_same_shape("student_x", student_x, "teacher_x", teacher_x)
    target = l2_normalize(teacher_x, normalize)
    return F.mse_loss(l2_normalize(student_x, normalize), target) + F.mse_loss(
        l2_normalize(student_y, normalize), target
    )


def similarity_mse(
    student_x: Tensor,
    student_y: Tensor,
    teacher_sims: Tensor,
    temperature: float = 0.05,
    symmetric: bool = True,
    tcm: bool = False,
    tcm_lambda: float = 1.0,
    combine: Literal["sum", "mean"] = "sum",
    normalize: bool = True,
) -> Tensor:
    r"""IMASCL's MSE baseline: the student's similarity matrix regressed onto the teacher's.

    With s_ij = s(x_i, y_j) (cosine) and T the teacher's (B, B) similarity matrix
    (:func:`~polyalign.losses.teacher_similarity`: Priority T_xx or Average (T_xx + T_yy)/2), each
    space contributes one term per direction, a mean over all B² entries::

        cross:  M(s, T) = (1/B²) Σ_ij ((s_ij − T_ij)/τ)²   and, when symmetric, M(sᵀ, Tᵀ)
        TCM:    M(s_xx, T) (+ M(s_xxᵀ, Tᵀ)),  M(s_yy, T) (+ M(s_yyᵀ, Tᵀ))

    combined like :func:`~polyalign.losses.soft_label_loss` (``"sum"``: λ·Σ cross + Σ mono, IMASCL's
    ``compute_loss``; ``"mean"``: directions and spaces averaged). This is ``_compute_loss_from_type``
    with ``--loss_type MMSE --w_func raw`` (AMETrainer.py:235-236 at c687c60): τ only scales the
    loss by 1/τ² (it matters for gradient clipping and for Adam's ε); no softmax, no margin. Unlike
    :func:`mse_distillation` the teacher's width need not match the student's: only its B × B
    similarities are used.

    Args:
        student_x: (B, d) student embeddings of the x side (the priority language).
        student_y: (B, d) student embeddings of the y side.
        teacher_sims: (B, B) teacher similarities (a target; detached here).
        temperature: τ > 0, a scale.
        symmetric: add the transposed direction of every space.
        tcm: add the monolingual spaces.
        tcm_lambda: weight λ ≥ 0 of the cross-lingual terms when ``tcm``.
        combine: ``"sum"`` (IMASCL) or ``"mean"``.
        normalize: L2-normalise the student embeddings first.
    """
    check_embeddings("student_x", student_x)
    check_embeddings("student_y", student_y)
    check_same_shape("student_x", student_x, "student_y", student_y)
    b = student_x.shape[0]
    t = check_matrix("teacher_sims", teacher_sims, (b, b)).detach().to(student_x.dtype)
    tau = check_positive("temperature", temperature)
    lam = check_nonnegative("tcm_lambda", tcm_lambda)
    check_choice("combine", combine, COMBINES)
    x = l2_normalize(student_x, normalize)
    y = l2_normalize(student_y, normalize)

    def terms(sims: Tensor) -> list[Tensor]:
        out = [(((sims - t) / tau) ** 2).mean()]
        if symmetric:
            out.append((((sims.transpose(0, 1) - t.transpose(0, 1)) / tau) ** 2).mean())
        return out

    mono = [terms(similarity(x, x)), terms(similarity(y, y))] if tcm else []
    return combine_terms(terms(similarity(x, y)), mono, combine, lam)
