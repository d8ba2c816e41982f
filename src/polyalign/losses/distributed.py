"""Cross-rank gathering so contrastive losses see the global batch under data parallelism.

Every function here is a no-op (returns its input) when ``torch.distributed`` is unavailable or
not initialised, so the same training code runs on one device and on many.

Gradient scale. The intended use is: every rank gathers the embeddings of all ranks and computes
the *same* loss L on the *global* batch. ``gather_with_grad``'s backward sums the incoming
gradients of all ranks (all-reduce SUM) and keeps the local rows, so rank r ends with

    grad_r = Σ_q ∂L_q/∂x_r = W · ∂L/∂x_r          (W = world size, L_q = L on every rank q)

i.e. W times the single-process gradient of its own shard. DDP then *averages* parameter gradients
over the W ranks, and the two factors cancel: (1/W) Σ_r W · ∂L/∂θ|_{shard r} = ∂L/∂θ, exactly the
gradient one process would get on the concatenated global batch. Without DDP's averaging (e.g. a
manual all-reduce SUM of parameter grads), divide the loss by W instead.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["gather_group_ids", "gather_with_grad", "global_loss", "is_distributed", "world_size"]


def is_distributed() -> bool:
    """True when a default process group is up."""
    return dist.is_available() and dist.is_initialized()


def world_size(group: Any = None) -> int:
    return dist.get_world_size(group=group) if is_distributed() else 1


def _gather_rows(tensor: Tensor, group: Any) -> tuple[Tensor, list[int]]:
    """All-gather along dim 0 allowing a different row count per rank (the last batch often differs)."""
    n_ranks = dist.get_world_size(group=group)
    local = torch.tensor([tensor.shape[0]], dtype=torch.long, device=tensor.device)
    counts = [torch.zeros_like(local) for _ in range(n_ranks)]
    dist.all_gather(counts, local, group=group)
    sizes = [int(c.item()) for c in counts]
    # Collectives need equal shapes: pad every shard to the largest, then trim after the gather.
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    buffers = [torch.empty_like(padded) for _ in range(n_ranks)]
    dist.all_gather(buffers, padded.contiguous(), group=group)
    return torch.cat([buf[:size] for buf, size in zip(buffers, sizes)], dim=0), sizes


class _GatherWithGrad(torch.autograd.Function):
    """Forward: all-gather rows. Backward: all-reduce SUM of the global gradient, keep the local rows."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor, group: Any) -> Tensor:  # type: ignore[override]
        gathered, sizes = _gather_rows(tensor, group)
        rank = dist.get_rank(group=group)
        ctx.group = group
        ctx.start = sum(sizes[:rank])
        ctx.length = sizes[rank]
        return gathered

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        # Every rank used every shard, so the gradient w.r.t. our rows is the sum over ranks (see module doc).
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.start : ctx.start + ctx.length], None


def gather_with_grad(tensor: Tensor, group: Any = None) -> Tensor:
    """Concatenate ``tensor`` (rows) from all ranks in rank order; gradients flow back to each shard.

    Shards may have different row counts. The backward all-reduces (SUM) the gradient, so with the
    same loss computed on every rank the local gradient is W times the single-process gradient;
    DDP's averaging cancels this (see the module docstring). Returns ``tensor`` when not distributed.
    """
    if not is_distributed():
        return tensor
    return _GatherWithGrad.apply(tensor, group)


def gather_group_ids(ids: Tensor, group: Any = None, per_rank: bool = False) -> Tensor:
    """All-gather integer ids (no gradient) in rank order, matching :func:`gather_with_grad`.

    With ``per_rank=True`` the ids are local to each rank (e.g. the row index in the local batch)
    and are made globally distinct by mapping local id k on rank r to ``k * W + r``: equal ids on
    one rank stay equal, ids from different ranks never collide, and the map is the same for every
    tensor gathered this way (so group ids and hard-negative group ids stay consistent).
    """
    if not is_distributed():
        return ids
    ids = ids.detach().to(torch.long)
    if per_rank:
        ids = ids * dist.get_world_size(group=group) + dist.get_rank(group=group)
    gathered, _ = _gather_rows(ids, group)
    return gathered


def global_loss(
    fn: Callable[..., Tensor],
    embeddings: Sequence[str],
    ids: Sequence[str] = (),
    ids_per_rank: bool = False,
    group: Any = None,
) -> Callable[..., Tensor]:
    """Wrap a functional loss so the named arguments are gathered over ranks before it runs.

    ``embeddings`` names tensor arguments gathered with :func:`gather_with_grad`, ``ids`` names
    integer arguments gathered with :func:`gather_group_ids` (``per_rank=ids_per_rank``). Arguments
    that are ``None`` are left alone; every rank must pass the same set of non-``None`` arguments.
    Outside a process group the wrapper calls ``fn`` unchanged. Example::

        loss_fn = global_loss(multi_positive_loss, embeddings=["embeddings"], ids=["group_ids"])
        loss = loss_fn(local_embeddings, local_group_ids, temperature=0.05)
    """
    signature = inspect.signature(fn)
    unknown = [name for name in (*embeddings, *ids) if name not in signature.parameters]
    if unknown:
        raise ValueError(f"global_loss: {fn.__name__} has no argument(s) {unknown}")

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Tensor:
        if not is_distributed():
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        for name in embeddings:
            if bound.arguments.get(name) is not None:
                bound.arguments[name] = gather_with_grad(bound.arguments[name], group=group)
        for name in ids:
            if bound.arguments.get(name) is not None:
                value = torch.as_tensor(bound.arguments[name])
                bound.arguments[name] = gather_group_ids(value, group=group, per_rank=ids_per_rank)
        return fn(*bound.args, **bound.kwargs)

    return wrapped
