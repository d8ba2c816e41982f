"""Multi-process training (torch.distributed, gloo on CPU) equals one process on the same global batch.

Two ranks with ``batch_groups=B`` each must end with the same weights as one process with
``batch_groups=2B``: gathered embeddings give every rank the global batch's negatives, the gather's
backward sums gradients over ranks and DDP averages them (see polyalign.losses.distributed).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from _train_fixtures import make_corpus, save_tiny  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_steps(cfg, steps: int):
    from polyalign.train.trainer import Trainer

    trainer = Trainer(cfg)
    batches = trainer.batcher.epoch(0)
    for step in range(steps):
        trainer.step(step, trainer.batcher.local_batch(batches[step]))
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _worker(rank: int, world: int, port: int, cfg_kwargs: dict, out: str, steps: int) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from polyalign.train import TrainConfig

    state = _run_steps(TrainConfig(**cfg_kwargs), steps)
    if rank == 0:
        torch.save(state, out)
    torch.distributed.barrier()  # leave together (see tests/_dist_losses_worker.py)
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    "loss,grad_cache,freeze",
    [
        ("multi", False, False),
        ("multi", True, False),
        ("multiway", True, False),
        ("single", False, False),
        ("multi", False, True),
    ],
)
def test_two_ranks_match_one_process(tmp_path, loss, grad_cache, freeze):
    """``freeze``: freeze_embeddings must take effect before the DDP wrap (else step 2 fails with
    "Expected to have finished reduction")."""
    corpus = make_corpus(
        tmp_path / "corpus", hard=False, ragged=False
    )  # equal pair budgets: 3·6/2 per rank, 6·6/2 in one
    model = save_tiny(tmp_path / "tiny", dropout=0.0)  # dropout masks differ per rank; turn them off
    common = dict(
        model=str(model),
        data=str(corpus),
        loss=loss,
        lr=1e-3,
        chunk_size=6,
        max_seq_length=32,
        grad_cache=grad_cache,
        freeze_embeddings=freeze,
        steps=2,
        out=str(tmp_path / "run"),
    )
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_worker, args=(2, _free_port(), dict(common, batch_groups=3), out, 2), nprocs=2, join=True)
    two = torch.load(out)

    from polyalign.train import TrainConfig

    one = _run_steps(TrainConfig(**dict(common, batch_groups=6)), 2)
    start = torch.load(out)  # shapes only
    assert one.keys() == two.keys() == start.keys()
    moved = 0
    for k in one:
        assert torch.allclose(one[k], two[k], atol=2e-6), k
    # The steps did change the weights (otherwise equality would prove nothing).
    from sentence_transformers import SentenceTransformer

    init = SentenceTransformer(str(model), device="cpu").state_dict()
    moved = sum(not torch.allclose(init[k], one[k]) for k in one if k in init)
    assert moved > 10
