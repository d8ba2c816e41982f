"""sentence-transformers loss modules wrapping the functional losses.

Each adapter follows the ``SentenceTransformerTrainer`` calling convention (as in
``sentence_transformers`` v6 ``MultipleNegativesRankingLoss``): ``__init__(self, model, ...)``
stores the model as ``self.model`` (the trainer swaps in its wrapped copy) and
``forward(sentence_features, labels)`` receives one tokenised feature dict per text column, in
dataset column order, plus the dataset's ``label`` column (or ``None``).

Teachers: a ``teacher`` module is run on the *student's* tokenisation, so it must share the
student's tokenizer (e.g. a frozen copy of the initial student). For any other teacher, precompute
its embeddings and pass them as the ``label`` column instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from ._checks import LossInputError, check_choice, check_positive
from .distill import mse_distillation
from .distributed import gather_group_ids, gather_with_grad
from .infonce import info_nce
from .multi_positive import multi_positive_loss, teacher_positive_weights
from .soft_label import COMBINES, positive_mask, soft_label_loss, soft_targets, teacher_similarity

__all__ = ["InfoNCELoss", "MSEDistillationLoss", "MultiPositiveLoss", "SoftLabelLoss"]

Features = Iterable[dict[str, Tensor]]


def _embed(model: nn.Module, features: Sequence[dict[str, Tensor]], separate_first: bool) -> list[Tensor]:
    """One ``sentence_embedding`` per column; uses sentence-transformers' merged forward when present."""
    try:
        from sentence_transformers.base.losses.merged_forward import embed_columns
    except ImportError:  # older sentence-transformers: one forward per column
        return [model(f)["sentence_embedding"] for f in features]
    return embed_columns(model, list(features), separate_first=separate_first)


def _teacher_embed(teacher: nn.Module, features: Sequence[dict[str, Tensor]]) -> list[Tensor]:
    """Teacher embeddings of each column, without gradient and in eval mode (no dropout noise)."""
    was_training = teacher.training
    teacher.eval()
    try:
        with torch.no_grad():
            # A shallow copy: modules write their outputs into the dict, which the student will reuse.
            return [teacher(dict(f))["sentence_embedding"].detach() for f in features]
    finally:
        teacher.train(was_training)


def _gather_detached(t: Tensor | None, enabled: bool) -> Tensor | None:
    if t is None or not enabled:
        return t
    return gather_with_grad(t.detach())


class InfoNCELoss(nn.Module):
    """:func:`~polyalign.losses.info_nce` on columns (anchor, positive[, negative_1, ...]).

    Extra columns after the first two are hard negatives; all of them join every anchor's
    denominator. ``gather_across_devices`` computes the loss over the global batch of all ranks.
    """

    def __init__(
        self,
        model: nn.Module,
        temperature: float = 0.05,
        symmetric: bool = False,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.temperature = check_positive("temperature", temperature)
        self.symmetric = symmetric
        self.gather_across_devices = gather_across_devices

    def forward(self, sentence_features: Features, labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) < 2:
            raise LossInputError(
                f"InfoNCELoss needs (anchor, positive[, negatives...]) columns, got {len(features)}"
            )
        emb = _embed(self.model, features, separate_first=True)
        anchors, positives = emb[0], emb[1]
        negatives = torch.cat(emb[2:], dim=0) if len(emb) > 2 else None
        if self.gather_across_devices:
            anchors, positives = gather_with_grad(anchors), gather_with_grad(positives)
            negatives = gather_with_grad(negatives) if negatives is not None else None
        return info_nce(anchors, positives, self.temperature, self.symmetric, negatives)

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "symmetric": self.symmetric}


class MultiPositiveLoss(nn.Module):
    """:func:`~polyalign.losses.multi_positive_loss` on columns (anchor, positive_1, ..., positive_k[, negatives]).

    Each dataset row is one group (e.g. one sentence and its translations): all columns are
    flattened into one batch with group id = row index, so every sentence is an anchor. The last
    ``num_hard_negative_columns`` columns are hard negatives of their row's group.

    Ragged groups: fill a missing translation with any string and pass a ``label`` column holding
    a 0/1 presence mask of shape (rows, member columns); cells marked 0 are dropped.

    ``teacher`` (optional, shares the student's tokenizer): weights the positives with
    :func:`~polyalign.losses.teacher_positive_weights` at ``teacher_temperature``.
    """

    def __init__(
        self,
        model: nn.Module,
        temperature: float = 0.05,
        minmax: bool = False,
        form: Literal["in", "out"] = "in",
        num_hard_negative_columns: int = 0,
        hard_negative_scope: Literal["all", "group"] = "all",
        teacher: nn.Module | None = None,
        teacher_temperature: float = 0.05,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.temperature = check_positive("temperature", temperature)
        self.minmax = minmax
        self.form = check_choice("form", form, ("in", "out"))
        if isinstance(num_hard_negative_columns, bool) or not isinstance(num_hard_negative_columns, int):
            raise LossInputError("num_hard_negative_columns must be an int >= 0")
        if num_hard_negative_columns < 0:
            raise LossInputError(f"num_hard_negative_columns must be >= 0, got {num_hard_negative_columns}")
        self.num_hard_negative_columns = num_hard_negative_columns
        self.hard_negative_scope = check_choice("hard_negative_scope", hard_negative_scope, ("all", "group"))
        self.teacher = teacher
        self.teacher_temperature = check_positive("teacher_temperature", teacher_temperature)
        self.gather_across_devices = gather_across_devices

    def forward(self, sentence_features: Features, labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        n_members = len(features) - self.num_hard_negative_columns
        if n_members < 2:
            raise LossInputError(
                f"MultiPositiveLoss needs at least 2 group-member columns, got {len(features)} column(s) "
                f"of which {self.num_hard_negative_columns} are hard negatives"
            )
        teacher_emb = _teacher_embed(self.teacher, features[:n_members]) if self.teacher is not None else None
        # Every column holds sentences of the same kind, so all may share one forward pass.
        emb = _embed(self.model, features, separate_first=False)
        rows, device = emb[0].shape[0], emb[0].device
        row_ids = torch.arange(rows, device=device)

        embeddings = torch.cat(emb[:n_members], dim=0)  # column-major: all of column 0, then column 1, ...
        group_ids = row_ids.repeat(n_members)
        teacher_all = torch.cat(teacher_emb, dim=0) if teacher_emb is not None else None
        if labels is not None:
            keep = self._presence(labels, rows, n_members).to(device).transpose(0, 1).reshape(-1)
            embeddings, group_ids = embeddings[keep], group_ids[keep]
            teacher_all = teacher_all[keep] if teacher_all is not None else None

        negatives = neg_ids = None
        if self.num_hard_negative_columns:
            negatives = torch.cat(emb[n_members:], dim=0)
            neg_ids = row_ids.repeat(self.num_hard_negative_columns)

        if self.gather_across_devices:
            embeddings = gather_with_grad(embeddings)
            group_ids = gather_group_ids(group_ids, per_rank=True)
            teacher_all = _gather_detached(teacher_all, True)
            if negatives is not None:
                negatives = gather_with_grad(negatives)
                neg_ids = gather_group_ids(neg_ids, per_rank=True)

        weights = None
        if teacher_all is not None:
            weights = teacher_positive_weights(teacher_all, group_ids, self.teacher_temperature).to(
                embeddings.dtype
            )
        return multi_positive_loss(
            embeddings,
            group_ids,
            temperature=self.temperature,
            minmax=self.minmax,
            form=self.form,
            hard_negatives=negatives,
            hard_negative_group_ids=neg_ids,
            weights=weights,
            hard_negative_scope=self.hard_negative_scope,
        )

    @staticmethod
    def _presence(labels: Tensor, rows: int, n_members: int) -> Tensor:
        if tuple(labels.shape) != (rows, n_members):
            raise LossInputError(
                f"labels: MultiPositiveLoss reads the label column as a 0/1 presence mask of shape "
                f"({rows}, {n_members}) (rows, member columns), got shape {tuple(labels.shape)}"
            )
        return labels != 0

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "minmax": self.minmax,
            "form": self.form,
            "num_hard_negative_columns": self.num_hard_negative_columns,
            "hard_negative_scope": self.hard_negative_scope,
            "teacher_weighted": self.teacher is not None,
        }


def _teacher_from_labels(labels: Tensor, rows: int) -> tuple[Tensor, Tensor | None]:
    """label column → (teacher_x, teacher_y or None): shape (B, d_t) or (B, 2, d_t)."""
    if labels.dim() == 2 and labels.shape[0] == rows:
        return labels, None
    if labels.dim() == 3 and labels.shape[0] == rows and labels.shape[1] == 2:
        return labels[:, 0], labels[:, 1]
    raise LossInputError(
        f"labels must hold teacher embeddings of shape ({rows}, d) for x or ({rows}, 2, d) for (x, y), "
        f"got shape {tuple(labels.shape)}"
    )


class SoftLabelLoss(nn.Module):
    """:func:`~polyalign.losses.soft_label_loss` on columns (x, y) of translation pairs.

    Targets come from :func:`~polyalign.losses.soft_targets` with ``strategy``; put the priority
    language (normally English) in column x. Teacher embeddings are read from the ``label``
    column ((B, d_t) for x, or (B, 2, d_t) for x and y; ``"average"`` needs both) or, when no
    label is given, computed by ``teacher`` on the student's tokenisation. ``"hard"`` needs neither.
    ``margin`` > 0 subtracts IMASCL's margin where the teacher similarity exceeds
    ``positive_threshold``; ``combine`` as in :func:`~polyalign.losses.soft_label_loss`.
    """

    def __init__(
        self,
        model: nn.Module,
        teacher: nn.Module | None = None,
        strategy: Literal["priority", "average", "hard"] = "priority",
        temperature: float = 0.05,
        teacher_temperature: float = 0.05,
        symmetric: bool = True,
        tcm: bool = False,
        tcm_lambda: float = 1.0,
        gather_across_devices: bool = False,
        margin: float = 0.0,
        positive_threshold: float = 0.95,
        combine: Literal["sum", "mean"] = "sum",
    ) -> None:
        super().__init__()
        self.model = model
        self.teacher = teacher
        self.strategy = check_choice("strategy", strategy, ("priority", "average", "hard"))
        self.temperature = check_positive("temperature", temperature)
        self.teacher_temperature = check_positive("teacher_temperature", teacher_temperature)
        self.symmetric = symmetric
        self.tcm = tcm
        self.tcm_lambda = float(tcm_lambda)
        self.gather_across_devices = gather_across_devices
        self.margin = float(margin)
        self.positive_threshold = float(positive_threshold)
        self.combine = check_choice("combine", combine, COMBINES)

    def forward(self, sentence_features: Features, labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) != 2:
            raise LossInputError(f"SoftLabelLoss needs exactly two columns (x, y), got {len(features)}")
        teacher_x = teacher_y = None
        needs_teacher = self.strategy != "hard"
        if needs_teacher and labels is None:
            if self.teacher is None:
                raise LossInputError(
                    f'strategy="{self.strategy}" needs teacher embeddings: pass a teacher or a label column'
                )
            teacher_x, teacher_y = _teacher_embed(self.teacher, features)
        x, y = _embed(self.model, features, separate_first=False)
        if needs_teacher and labels is not None:
            teacher_x, teacher_y = _teacher_from_labels(labels, x.shape[0])
        if self.gather_across_devices:
            x, y = gather_with_grad(x), gather_with_grad(y)
            teacher_x = _gather_detached(teacher_x, True)
            teacher_y = _gather_detached(teacher_y, True)
        source = teacher_x if teacher_x is not None else x.detach()
        targets = soft_targets(source, teacher_y, self.strategy, self.teacher_temperature).to(x.dtype)
        positives = None
        if self.margin:
            sims = teacher_similarity(source, teacher_y, self.strategy)
            positives = positive_mask(sims, self.positive_threshold)
        return soft_label_loss(
            x,
            y,
            targets,
            self.temperature,
            self.symmetric,
            self.tcm,
            self.tcm_lambda,
            margin=self.margin,
            positives=positives,
            combine=self.combine,
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "temperature": self.temperature,
            "teacher_temperature": self.teacher_temperature,
            "symmetric": self.symmetric,
            "tcm": self.tcm,
            "tcm_lambda": self.tcm_lambda,
            "margin": self.margin,
            "positive_threshold": self.positive_threshold,
            "combine": self.combine,
        }


class MSEDistillationLoss(nn.Module):
    """:func:`~polyalign.losses.mse_distillation` on columns (x, y) with teacher embeddings of x.

    The teacher embeddings come from the ``label`` column (B, d), as in sentence-transformers'
    ``MSELoss``, or from ``teacher`` run on column x when no label is given.
    """

    def __init__(self, model: nn.Module, teacher: nn.Module | None = None, normalize: bool = False) -> None:
        super().__init__()
        self.model = model
        self.teacher = teacher
        self.normalize = normalize

    def forward(self, sentence_features: Features, labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) != 2:
            raise LossInputError(f"MSEDistillationLoss needs exactly two columns (x, y), got {len(features)}")
        if labels is not None:
            teacher_x = labels
        elif self.teacher is not None:
            teacher_x = _teacher_embed(self.teacher, features[:1])[0]
        else:
            raise LossInputError(
                "MSEDistillationLoss needs teacher embeddings: pass a teacher or a label column"
            )
        x, y = _embed(self.model, features, separate_first=False)
        return mse_distillation(x, y, teacher_x.to(x.dtype), normalize=self.normalize)

    def get_config_dict(self) -> dict[str, Any]:
        return {"normalize": self.normalize}
