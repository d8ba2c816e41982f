"""Cross-rank gathering: 2 CPU processes (gloo) must reproduce one process on the global batch.

Documented scale (polyalign.losses.distributed): every rank computes the same global loss L, so the
gradient reaching rank r's local embeddings is W · ∂L/∂x_r (W = 2 here), and DDP's averaging of
parameter gradients turns that back into exactly the single-process parameter gradient.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from polyalign.losses import (
    gather_group_ids,
    gather_with_grad,
    global_loss,
    info_nce,
    multi_positive_loss,
    multiway_pair_loss,
)

WORKER_PATH = Path(__file__).with_name("_dist_losses_worker.py")


def _load_worker():
    spec = importlib.util.spec_from_file_location("_dist_losses_worker", WORKER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_rank_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, str(WORKER_PATH), str(_free_port()), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def _reference_grads(fn, *tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    loss = fn(*leaves)
    loss.backward()
    return loss.detach(), [leaf.grad for leaf in leaves]


def test_gathered_info_nce_matches_single_process(two_rank_results):
    w = _load_worker()
    data = w.make_data()
    ref_loss, (ga, gp, gh) = _reference_grads(
        lambda a, p, h: info_nce(a, p, symmetric=True, hard_negatives=h),
        data["anchors"],
        data["positives"],
        data["pair_negatives"],
    )
    for rank, res in enumerate(two_rank_results):
        torch.testing.assert_close(res["info_loss"], ref_loss, rtol=0, atol=1e-10)
        # Local gradient = world size × the single-process gradient of that shard.
        for name, ref in (("info_ga", ga), ("info_gp", gp), ("info_gh", gh)):
            torch.testing.assert_close(
                res[name], w.WORLD * w.shard(ref, w.PAIR_SHARDS, rank), rtol=0, atol=1e-10
            )


def test_gathered_multi_positive_matches_single_process(two_rank_results):
    w = _load_worker()
    data = w.make_data()
    ref_loss, (ge, gh) = _reference_grads(
        lambda e, h: multi_positive_loss(
            e,
            data["group_ids"],
            minmax=True,
            form="out",
            hard_negatives=h,
            hard_negative_group_ids=data["hard_group_ids"],
            hard_negative_scope="group",
        ),
        data["sentences"],
        data["hard"],
    )
    for rank, res in enumerate(two_rank_results):
        torch.testing.assert_close(res["mp_loss"], ref_loss, rtol=0, atol=1e-10)
        torch.testing.assert_close(
            res["mp_ge"], w.WORLD * w.shard(ge, w.SENT_SHARDS, rank), rtol=0, atol=1e-10
        )
        torch.testing.assert_close(
            res["mp_gh"], w.WORLD * w.shard(gh, w.HARD_SHARDS, rank), rtol=0, atol=1e-10
        )


def test_gathered_multiway_matches_single_process(two_rank_results):
    w = _load_worker()
    data = w.make_data()
    ref_loss, (ge,) = _reference_grads(
        lambda e: multiway_pair_loss(e, data["group_ids"], data["lang_ids"], minmax=True), data["sentences"]
    )
    for rank, res in enumerate(two_rank_results):
        torch.testing.assert_close(res["mw_loss"], ref_loss, rtol=0, atol=1e-10)
        torch.testing.assert_close(
            res["mw_ge"], w.WORLD * w.shard(ge, w.SENT_SHARDS, rank), rtol=0, atol=1e-10
        )


def test_ddp_averaged_parameter_gradient_equals_single_process(two_rank_results):
    """The W factor of the gather cancels DDP's 1/W: parameter grads equal the one-process grads."""
    w = _load_worker()
    data = w.make_data()
    layer = w.ddp_linear(data["linear_init"])
    loss = info_nce(layer(data["anchors"]), layer(data["positives"]), symmetric=True)
    loss.backward()
    for res in two_rank_results:
        torch.testing.assert_close(res["ddp_loss"], loss.detach(), rtol=0, atol=1e-10)
        torch.testing.assert_close(res["ddp_grad"], layer.weight.grad, rtol=0, atol=1e-10)


def test_gathered_group_ids(two_rank_results):
    w = _load_worker()
    data = w.make_data()
    n0, n1 = w.SENT_SHARDS
    # Local row k on rank r ↦ k·W + r: distinct across ranks, in rank order.
    expected = torch.cat([torch.arange(n0) * 2, torch.arange(n1) * 2 + 1])
    for res in two_rank_results:
        assert torch.equal(res["per_rank_ids"], expected)
        assert torch.equal(res["plain_ids"], data["group_ids"])


def test_helpers_are_noops_without_process_group():
    x = torch.randn(3, 4)
    ids = torch.tensor([1, 1, 2])
    assert gather_with_grad(x) is x
    assert gather_group_ids(ids, per_rank=True) is ids
    wrapped = global_loss(info_nce, embeddings=["anchors", "positives"])
    torch.testing.assert_close(wrapped(x, x + 1), info_nce(x, x + 1))
    with pytest.raises(ValueError, match="no argument"):
        global_loss(info_nce, embeddings=["nope"])
