"""Two-process CPU (gloo) worker for tests/test_losses_distributed.py.

Run as ``python _dist_losses_worker.py PORT OUT_DIR``: spawns 2 ranks; each takes its (uneven)
shard of a fixed global batch, computes the losses on the gathered global batch, backpropagates and
saves its loss values and local gradients to ``OUT_DIR/rank{r}.pt``. ``make_data`` is shared with the
test, which recomputes everything in one process on the concatenated batch.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from polyalign.losses import (
    gather_group_ids,
    gather_with_grad,
    global_loss,
    info_nce,
    multi_positive_loss,
    multiway_pair_loss,
)

WORLD = 2
DIM = 6
# Uneven shards on purpose: the gather must handle a short last batch.
PAIR_SHARDS = (3, 4)
SENT_SHARDS = (4, 6)
HARD_SHARDS = (1, 2)


def make_data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    n_pairs, n_sent, n_hard = sum(PAIR_SHARDS), sum(SENT_SHARDS), sum(HARD_SHARDS)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    return {
        "anchors": randn(n_pairs, DIM),
        "positives": randn(n_pairs, DIM),
        "pair_negatives": randn(n_pairs, DIM),
        "sentences": randn(n_sent, DIM),
        # Groups straddle the two ranks (ids 5 and 2 occur in both shards), one singleton (9).
        "group_ids": torch.tensor([5, 2, 5, 9, 2, 5, 7, 7, 2, 4]),
        # One language per (group, language); groups 5 and 2 have three languages across the ranks.
        "lang_ids": torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 1, 2]),
        "hard": randn(n_hard, DIM),
        "hard_group_ids": torch.tensor([5, 7, 2]),
        "linear_init": randn(DIM, DIM),
    }


def shard(t: torch.Tensor, sizes: tuple[int, ...], rank: int) -> torch.Tensor:
    start = sum(sizes[:rank])
    return t[start : start + sizes[rank]]


def ddp_linear(init: torch.Tensor) -> torch.nn.Linear:
    layer = torch.nn.Linear(DIM, DIM, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(init)
    return layer


def _run(rank: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        data = make_data()
        result: dict[str, torch.Tensor] = {}

        # info_nce, symmetric with hard negatives, on gathered shards.
        a = shard(data["anchors"], PAIR_SHARDS, rank).clone().requires_grad_(True)
        p = shard(data["positives"], PAIR_SHARDS, rank).clone().requires_grad_(True)
        h = shard(data["pair_negatives"], PAIR_SHARDS, rank).clone().requires_grad_(True)
        loss = info_nce(
            gather_with_grad(a), gather_with_grad(p), symmetric=True, hard_negatives=gather_with_grad(h)
        )
        loss.backward()
        result.update(info_loss=loss.detach(), info_ga=a.grad, info_gp=p.grad, info_gh=h.grad)

        # multi_positive_loss through the global_loss wrapper (global group ids, group-scoped hard negatives).
        e = shard(data["sentences"], SENT_SHARDS, rank).clone().requires_grad_(True)
        hn = shard(data["hard"], HARD_SHARDS, rank).clone().requires_grad_(True)
        mp_global = global_loss(
            multi_positive_loss,
            embeddings=["embeddings", "hard_negatives"],
            ids=["group_ids", "hard_negative_group_ids"],
        )
        loss = mp_global(
            e,
            shard(data["group_ids"], SENT_SHARDS, rank),
            minmax=True,
            form="out",
            hard_negatives=hn,
            hard_negative_group_ids=shard(data["hard_group_ids"], HARD_SHARDS, rank),
            hard_negative_scope="group",
        )
        loss.backward()
        result.update(mp_loss=loss.detach(), mp_ge=e.grad, mp_gh=hn.grad)

        # multiway_pair_loss: group and language ids gathered like the embeddings.
        e = shard(data["sentences"], SENT_SHARDS, rank).clone().requires_grad_(True)
        mw_global = global_loss(multiway_pair_loss, embeddings=["embeddings"], ids=["group_ids", "lang_ids"])
        loss = mw_global(
            e,
            shard(data["group_ids"], SENT_SHARDS, rank),
            shard(data["lang_ids"], SENT_SHARDS, rank),
            minmax=True,
        )
        loss.backward()
        result.update(mw_loss=loss.detach(), mw_ge=e.grad)

        # Rank-local ids (row index) made globally distinct.
        local_rows = torch.arange(SENT_SHARDS[rank])
        result["per_rank_ids"] = gather_group_ids(local_rows, per_rank=True)
        result["plain_ids"] = gather_group_ids(shard(data["group_ids"], SENT_SHARDS, rank))

        # Full pipeline: DDP-averaged parameter gradient of a global-batch loss.
        model = DistributedDataParallel(ddp_linear(data["linear_init"]))
        n_local = PAIR_SHARDS[rank]
        # One forward per step, as in training: both columns go through the model together.
        z = model(
            torch.cat(
                [shard(data["anchors"], PAIR_SHARDS, rank), shard(data["positives"], PAIR_SHARDS, rank)]
            )
        )
        za, zp = z[:n_local], z[n_local:]
        loss = info_nce(gather_with_grad(za), gather_with_grad(zp), symmetric=True)
        loss.backward()
        result.update(ddp_loss=loss.detach(), ddp_grad=model.module.weight.grad.detach().clone())

        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # both ranks have saved
    except BaseException:
        dist.destroy_process_group()
        raise
    # Leave without gloo's C++ teardown: destroying the group while the peer's threads are still
    # connected aborted a process now and then ("terminate called without an active exception"),
    # even after a barrier (1 run in ~40), after every result was already on disk.
    os._exit(0)


if __name__ == "__main__":
    torch.set_num_threads(1)
    mp.spawn(_run, args=(int(sys.argv[1]), sys.argv[2]), nprocs=WORLD, join=True)
