"""Turn a step's local embeddings into the configured loss over the *global* batch.

Embeddings of the local shard are gathered from every rank (gradients flow back to the local
rows, see :mod:`polyalign.losses.distributed`), so in-batch negatives span the global batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..losses import (
    gather_group_ids,
    gather_with_grad,
    info_nce,
    monolingual_structure_loss,
    mse_distillation,
    multi_positive_loss,
    multiway_pair_loss,
    positive_mask,
    similarity_mse,
    soft_label_loss,
    soft_targets,
    teacher_positive_weights,
    teacher_similarity,
)
from .batching import StepBatch
from .config import TrainConfig


def make_objective(
    cfg: TrainConfig, loss: str, batch: StepBatch, teacher: Tensor | None = None
) -> Callable[[Tensor], Tensor]:
    """``objective(local_embeddings) -> scalar``. Rows: ``batch.texts`` then ``batch.hard_texts``.

    ``teacher``: the frozen reference's embeddings of ``batch.texts`` (teacher losses, keep_mono)."""
    objective = _loss_objective(cfg, loss, batch, teacher)
    if not cfg.keep_mono:
        return objective
    if teacher is None:
        raise ValueError("keep_mono needs the reference model's embeddings of the batch")
    n, weight = len(batch.texts), cfg.keep_mono
    codes = {lang: i for i, lang in enumerate(dict.fromkeys(batch.langs))}
    lang_ids = torch.tensor([codes[lang] for lang in batch.langs], dtype=torch.long)

    # Local rows only: the structure of each rank's own sentences; DDP averages the gradients.
    def with_structure(emb: Tensor) -> Tensor:
        ref = teacher[:n].to(emb.device)
        return objective(emb) + weight * monolingual_structure_loss(emb[:n], ref, lang_ids.to(emb.device))

    return with_structure


def _loss_objective(
    cfg: TrainConfig, loss: str, batch: StepBatch, teacher: Tensor | None
) -> Callable[[Tensor], Tensor]:
    n = len(batch.texts)
    tau = cfg.temperature

    if batch.kind == "groups" and loss == "multiway":
        if batch.lang_ids is None:
            raise ValueError("the multiway loss needs a group batch with lang_ids (Batcher.local_batch)")

        def multiway_objective(emb: Tensor) -> Tensor:
            e = gather_with_grad(emb[:n])
            gids = gather_group_ids(batch.group_ids.to(emb.device))
            lids = gather_group_ids(batch.lang_ids.to(emb.device))
            return multiway_pair_loss(e, gids, lids, temperature=tau, minmax=cfg.minmax)

        return multiway_objective

    if batch.kind == "groups":
        form = "out" if loss == "multi-out" else "in"

        def group_objective(emb: Tensor) -> Tensor:
            e = gather_with_grad(emb[:n])
            gids = gather_group_ids(batch.group_ids.to(emb.device))
            hard = hard_ids = None
            if cfg.hard_negatives:
                h = gather_with_grad(emb[n:])
                hard_gids = (
                    batch.hard_group_ids
                    if batch.hard_group_ids is not None
                    else torch.zeros(0, dtype=torch.long)
                )
                hard_ids = gather_group_ids(hard_gids.to(emb.device))
                if h.shape[0] > 0:
                    hard = h
                else:
                    hard_ids = None
            weights = None
            if loss == "weighted-multi":
                t = gather_with_grad(teacher).detach()
                weights = teacher_positive_weights(t, gids, temperature=cfg.teacher_temperature)
            return multi_positive_loss(
                e,
                gids,
                temperature=tau,
                minmax=cfg.minmax,
                form=form,
                hard_negatives=hard,
                hard_negative_group_ids=hard_ids,
                weights=weights,
            )

        return group_objective

    b = batch.n_pairs

    def pair_objective(emb: Tensor) -> Tensor:
        x, y = emb[:b], emb[b:n]
        if loss == "mse":
            # A per-example loss: no gathering needed, DDP's gradient averaging gives the global mean.
            return mse_distillation(x, y, teacher[:b].to(emb.device))
        x, y = gather_with_grad(x), gather_with_grad(y)
        if loss == "single":
            return info_nce(x, y, temperature=tau, symmetric=cfg.symmetric, minmax=cfg.minmax)
        strategy = loss.removeprefix("soft-").removeprefix("sim-mse-")
        tx = ty = None
        if strategy != "hard":
            tx = gather_with_grad(teacher[:b].to(emb.device)).detach()
            ty = gather_with_grad(teacher[b:].to(emb.device)).detach() if strategy == "average" else None
        else:
            tx = x.detach()  # shape only: hard targets are the identity
        combined = dict(
            symmetric=cfg.symmetric, tcm=cfg.tcm, tcm_lambda=cfg.tcm_lambda, combine=cfg.soft_combine
        )
        if loss.startswith("sim-mse-"):
            return similarity_mse(x, y, teacher_similarity(tx, ty, strategy), temperature=tau, **combined)
        targets = soft_targets(tx, ty, strategy=strategy, teacher_temperature=cfg.teacher_temperature)
        positives = None
        if cfg.margin:
            positives = positive_mask(teacher_similarity(tx, ty, strategy), cfg.positive_threshold)
        return soft_label_loss(
            x, y, targets, temperature=tau, margin=cfg.margin, positives=positives, **combined
        )

    return pair_objective
