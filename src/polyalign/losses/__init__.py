"""Contrastive and distillation losses for multilingual sentence encoders.

Functional core (pure functions of embeddings, returning a scalar tensor; cosine similarity,
temperature τ = 0.05 by default):

- :func:`info_nce` — in-batch InfoNCE (MPCL Eq. 1), optional symmetric term and hard negatives.
- :func:`multi_positive_loss` — every sentence an anchor, its group mates the positives
  (MPCL Eq. 2 / SupCon L_in, or L_out), min-max rescaling, hard negatives, positive weights;
  :func:`teacher_positive_weights` builds such weights from a teacher.
- :func:`multiway_pair_loss` — the multi-way alignment paper's "all languages as anchors": an
  InfoNCE per ordered language pair (a, b), negatives = the other groups' sentences in b.
- :func:`soft_label_loss` — cross-entropy to teacher soft targets, optional TCM monolingual terms
  and IMASCL's additive margin; :func:`teacher_similarity`, :func:`soft_targets`,
  :func:`positive_mask` and :func:`priority_side` build its inputs.
- :func:`mse_distillation` — multilingual knowledge distillation (Reimers & Gurevych, 2020).
- :func:`similarity_mse` — IMASCL's MSE baseline: student similarity matrix onto the teacher's.
- :func:`monolingual_structure_loss` — keep each language's in-batch cosine similarities close to a
  frozen reference's (the recipe's regulariser against losing monolingual quality).

Data parallelism: :mod:`polyalign.losses.distributed` (:func:`gather_with_grad`,
:func:`gather_group_ids`, :func:`global_loss`). sentence-transformers adapters:
:class:`InfoNCELoss`, :class:`MultiPositiveLoss`, :class:`SoftLabelLoss`, :class:`MSEDistillationLoss`.
Bad arguments raise :class:`LossInputError` (a ``ValueError``).
"""

from ._checks import LossInputError, NonFiniteInputError
from .distill import mse_distillation, similarity_mse
from .distributed import gather_group_ids, gather_with_grad, global_loss, is_distributed
from .infonce import info_nce
from .multi_positive import MINMAX_EPS, multi_positive_loss, teacher_positive_weights
from .multiway import multiway_pair_loss
from .soft_label import (
    DEFAULT_PRIORITY,
    positive_mask,
    priority_side,
    soft_label_loss,
    soft_targets,
    teacher_similarity,
)
from .st_adapters import InfoNCELoss, MSEDistillationLoss, MultiPositiveLoss, SoftLabelLoss
from .structure import monolingual_structure_loss

__all__ = [
    "DEFAULT_PRIORITY",
    "MINMAX_EPS",
    "InfoNCELoss",
    "LossInputError",
    "MSEDistillationLoss",
    "MultiPositiveLoss",
    "NonFiniteInputError",
    "SoftLabelLoss",
    "gather_group_ids",
    "gather_with_grad",
    "global_loss",
    "info_nce",
    "is_distributed",
    "monolingual_structure_loss",
    "mse_distillation",
    "multi_positive_loss",
    "multiway_pair_loss",
    "positive_mask",
    "priority_side",
    "soft_label_loss",
    "similarity_mse",
    "soft_targets",
    "teacher_positive_weights",
    "teacher_similarity",
]
