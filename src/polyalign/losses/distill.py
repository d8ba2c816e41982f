"""Multilingual knowledge distillation (Reimers & Gurevych, 2020): regress onto the teacher's embedding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ._checks import check_embeddings, check_same_dim, check_same_shape
from ._similarity import l2_normalize

__all__ = ["mse_distillation"]


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
