"""k-NN search, LASER's ratio margin and the mining strategies — the one mining implementation.

Used by ``polyalign mine`` (:mod:`polyalign.mine.pipeline`) and by the ``bucc`` evaluation task
(:mod:`polyalign.eval.bitext` re-exports these names).

Margin (Artetxe & Schwenk 2019; LASER ``source/mine_bitexts.py``): with ``NN_k(x)`` the ``k``
cosine-nearest targets of source ``x`` and ``NN_k(y)`` the ``k`` cosine-nearest sources of target
``y``, the ratio margin of a pair is::

    cos(x, y) / ((mean_{z in NN_k(x)} cos(x, z) + mean_{z in NN_k(y)} cos(y, z)) / 2)

and each sentence's candidates are its ``k`` cosine neighbours (the k-NN means are the same ones
LASER's xsim uses, see :func:`polyalign.eval.bitext.xsim_errors`). Strategies (LASER's
``--retrieval``): ``max`` — the best forward candidate of every source and the best backward
candidate of every target are pooled, sorted by score, and a pair is kept unless its source or its
target was taken by a higher-scoring pair; ``intersect`` — a pair is kept only when it is the best
forward *and* the best backward candidate; ``forward`` — every source keeps its best forward
candidate (a target may be chosen by several sources). A threshold keeps pairs scoring ``>=`` it,
as LASER's and XTREME's BUCC extraction (``bucc_extract``) does (``mine_bitexts.py --threshold``
writes ``>``; the difference is only at exact ties). :func:`best_threshold` is their
``bucc_optimize`` (checked in ``tests/test_bucc_reference.py``).

Search backends: ``torch`` (exact, row chunks, CPU or GPU: never a full n x m matrix),
``faiss`` (exact ``IndexFlatIP``), ``faiss-ivf`` (approximate ``IndexIVFFlat``), ``faiss-hnsw``
(approximate ``IndexHNSWFlat``, CPU), ``auto``: without faiss torch; with faiss GPUs exact faiss on
them; else :data:`APPROX_BACKEND` for target sets of ``approx_above`` rows or more (the pipeline
passes :data:`APPROX_ABOVE`, measured in bench/bench_mine.py), exact faiss for other large problems,
torch for small ones. Indexes hold unit float32 vectors, inner product = cosine.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .defaults import APPROX_ABOVE as APPROX_ABOVE  # re-exported
from .defaults import APPROX_BACKEND as APPROX_BACKEND  # re-exported
from .defaults import DEFAULT_EF_SEARCH as DEFAULT_EF_SEARCH  # re-exported
from .defaults import DEFAULT_NPROBE as DEFAULT_NPROBE  # re-exported

log = logging.getLogger(__name__)

# Largest similarity block (rows x columns) computed at once: 32M floats = 128 MB.
BLOCK_ELEMENTS = 32 * 1024 * 1024
# Rows of queries sent to faiss at once (bounds the float32 copy of a memory-mapped query set).
FAISS_QUERY_ROWS = 65536
# IVF lists per sqrt(n) (faiss's guideline: 4-16 sqrt(n)); each is trained on 64 sampled points.
IVF_LISTS_PER_SQRT = 4.0
STRATEGIES = ("max", "intersect", "forward")
BACKENDS = ("torch", "faiss", "faiss-ivf", "faiss-hnsw", "auto")
# HNSW links per node (faiss's usual 32: memory ~ 2 x 32 x 4 bytes per vector beside the vectors).
HNSW_M = 32


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _as_tensor(x, device=None) -> torch.Tensor:
    """Rows of ``x`` (numpy, torch, or anything sliceable into a 2-D array) as unit float32 rows."""
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        x = x[:]  # e.g. ShardedEmbeddings: read every shard
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    t = t.to(device=_device(device), dtype=torch.float32)
    if t.ndim != 2:
        raise DataError(f"embeddings must be a 2-D array, got shape {tuple(t.shape)}")
    return torch.nn.functional.normalize(t, dim=1)


def _n_rows(x) -> int:
    return int(x.shape[0])


def _check_pair(x: torch.Tensor, y: torch.Tensor, aligned: bool = True) -> None:
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise DataError("empty sentence set: nothing to retrieve")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"embedding sizes differ: {x.shape[1]} vs {y.shape[1]}")
    if aligned and x.shape[0] != y.shape[0]:
        raise DataError(f"aligned sets must have the same size: {x.shape[0]} vs {y.shape[0]}")


def _row_chunk(n_cols: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, n_cols))


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def faiss_gpus() -> int:
    """GPUs faiss can use (0 with faiss-cpu or without faiss)."""
    try:
        import faiss
    except ImportError:
        return 0
    return getattr(faiss, "get_num_gpus", lambda: 0)()


def choose_backend(backend: str, n_queries: int, n_targets: int, approx_above: int | None = None) -> str:
    """Resolve ``auto``: faiss IVF for targets >= ``approx_above`` (when given), faiss flat for
    large exact problems, else torch. Explicit backends pass through (checked)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown search backend {backend!r} ({', '.join(BACKENDS)})")
    if backend != "auto":
        if backend.startswith("faiss") and not faiss_available():
            raise ConfigError(f"backend={backend!r} needs faiss: pip install faiss-cpu (or polyalign[faiss])")
        return backend
    if not faiss_available():
        return "torch"
    if faiss_gpus() > 0:
        return "faiss"  # exact search on the GPUs is fast enough at any size that fits
    if approx_above is not None and n_targets >= approx_above:
        return APPROX_BACKEND
    return "faiss" if n_queries * n_targets > 10 * BLOCK_ELEMENTS else "torch"


def ivf_lists(n: int) -> int:
    """IVF lists for ``n`` indexed rows: IVF_LISTS_PER_SQRT sqrt(n), with >= 39 training points each
    (fewer makes faiss's k-means warn and cluster poorly)."""
    return max(1, min(n // 39, int(IVF_LISTS_PER_SQRT * math.sqrt(n))))


def _faiss_index(yt: torch.Tensor, backend: str, nprobe: int, ef_search: int = DEFAULT_EF_SEARCH):
    import faiss

    d, n = yt.shape[1], yt.shape[0]
    data = yt.cpu().numpy()
    if backend == "faiss-hnsw":
        # A graph index: no training, CPU only (faiss has no GPU HNSW), recall set by efSearch.
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(ef_search, 1)
        index.add(data)
        return index
    if backend == "faiss-ivf":
        nlist = ivf_lists(n)
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = data[np.random.default_rng(0).permutation(n)[: nlist * 64]]
        index.train(sample)
        index.nprobe = min(nprobe, nlist)
    else:
        index = faiss.IndexFlatIP(d)
    if faiss_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(data)
    return index


def knn(
    x,
    y,
    k: int,
    backend: str = "torch",
    device=None,
    approx_above: int | None = None,
    nprobe: int = DEFAULT_NPROBE,
    ef_search: int = DEFAULT_EF_SEARCH,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest rows of ``y`` for each row of ``x`` by cosine: (similarities, indices),
    both ``(len(x), k)`` on the CPU, best first. ``k`` is capped at ``len(y)``. ``x`` may be any
    sliceable 2-D set (a memory-mapped :class:`~polyalign.mine.embed.ShardedEmbeddings`): it is
    read in row chunks; ``y`` is held whole (as the index)."""
    yt = _as_tensor(y, device)
    k = min(k, yt.shape[0])
    if k < 1:
        raise DataError("empty target set")
    n = _n_rows(x)
    backend = choose_backend(backend, n, yt.shape[0], approx_above)
    sims_out, idx_out = [], []
    if backend.startswith("faiss"):
        index = _faiss_index(yt, backend, nprobe, ef_search)
        for i in range(0, n, FAISS_QUERY_ROWS):
            xt = _as_tensor(x[i : i + FAISS_QUERY_ROWS], "cpu")
            sims, idx = index.search(xt.numpy(), k)
            sims_out.append(torch.from_numpy(sims))
            idx_out.append(torch.from_numpy(idx.astype(np.int64)))
    else:
        step = _row_chunk(yt.shape[0])
        for i in range(0, n, step):
            xt = _as_tensor(x[i : i + step], yt.device)
            s, j = torch.topk(xt @ yt.T, k, dim=1)
            sims_out.append(s.cpu())
            idx_out.append(j.cpu())
    if not sims_out:
        raise DataError("empty query set")
    return torch.cat(sims_out), torch.cat(idx_out)


def knn_mean(x, y, k: int = 4, backend: str = "torch", device=None) -> torch.Tensor:
    """Mean cosine of each row of ``x`` to its ``k`` nearest rows of ``y`` (the margin's denominator)."""
    sims, _ = knn(x, y, k, backend=backend, device=device)
    return sims.mean(dim=1)


def margin_matrix(x, y, k: int = 4, device=None) -> torch.Tensor:
    """Dense ratio-margin scores ``(len(x), len(y))`` — for small sets and tests."""
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    _check_pair(xt, yt, aligned=False)
    a = knn_mean(xt, yt, k, device=device).to(xt.device)
    b = knn_mean(yt, xt, k, device=device).to(xt.device)
    return (xt @ yt.T) / ((a[:, None] + b[None, :]) / 2)


# ------------------------------------------------------------------------------------------------
# Mining


@dataclass
class MinedPair:
    src: int
    tgt: int
    score: float


@dataclass
class Neighbours:
    """Both directions' k-NN between a source and a target set (what every strategy needs)."""

    fwd_sims: torch.Tensor  # (n_src, k) cosines, best first
    fwd_idx: torch.Tensor  # (n_src, k) target indices
    bwd_sims: torch.Tensor  # (n_tgt, k)
    bwd_idx: torch.Tensor  # (n_tgt, k) source indices
    backend: str = "torch"


def neighbours(
    src,
    tgt,
    k: int = 4,
    backend: str = "torch",
    device=None,
    approx_above=None,
    nprobe=DEFAULT_NPROBE,
    ef_search=DEFAULT_EF_SEARCH,
) -> Neighbours:
    """k-NN both ways; ``src``/``tgt`` may be arrays, tensors or memory-mapped shard sets (anything
    with ``.shape`` and row slicing)."""
    n_src, n_tgt = _n_rows(src), _n_rows(tgt)
    if n_src == 0 or n_tgt == 0:
        raise DataError("empty sentence set: nothing to retrieve")
    if src.shape[1] != tgt.shape[1]:
        raise DataError(f"embedding sizes differ: {src.shape[1]} vs {tgt.shape[1]}")
    used = {
        choose_backend(backend, n_src, n_tgt, approx_above),
        choose_backend(backend, n_tgt, n_src, approx_above),
    }
    kw = dict(backend=backend, device=device, approx_above=approx_above, nprobe=nprobe, ef_search=ef_search)
    fs, fi = knn(src, tgt, k, **kw)
    bs, bi = knn(tgt, src, k, **kw)
    return Neighbours(fs, fi, bs, bi, "+".join(sorted(used)))


def _best(sims, idx, own_mean, other_mean) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best candidate among its k neighbours by ratio margin: (indices, scores)."""
    scores = sims / ((own_mean[:, None] + other_mean[idx]) / 2)
    best = scores.argmax(dim=1)
    rows = torch.arange(scores.shape[0])
    return idx[rows, best].numpy(), scores[rows, best].numpy()


def mine_neighbours(nb: Neighbours, strategy: str = "max") -> list[MinedPair]:
    """Apply a strategy to precomputed neighbours; pairs best first (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown mining strategy {strategy!r} ({', '.join(STRATEGIES)})")
    a, b = nb.fwd_sims.mean(dim=1), nb.bwd_sims.mean(dim=1)
    fwd, fwd_score = _best(nb.fwd_sims, nb.fwd_idx, a, b)
    if strategy == "forward":
        order = np.argsort(-fwd_score, kind="stable")
        return [MinedPair(int(i), int(fwd[i]), float(fwd_score[i])) for i in order]
    bwd, bwd_score = _best(nb.bwd_sims, nb.bwd_idx, b, a)
    if strategy == "intersect":
        pairs = [MinedPair(i, int(j), float(fwd_score[i])) for i, j in enumerate(fwd) if bwd[j] == i]
        pairs.sort(key=lambda p: -p.score)
        return pairs
    cand_src = np.concatenate([np.arange(len(fwd)), bwd])
    cand_tgt = np.concatenate([fwd, np.arange(len(bwd))])
    cand_score = np.concatenate([fwd_score, bwd_score])
    order = np.argsort(-cand_score, kind="stable")
    used_src, used_tgt = set(), set()
    pairs = []
    for o in order:
        s, t = int(cand_src[o]), int(cand_tgt[o])
        if s in used_src or t in used_tgt:
            continue
        used_src.add(s)
        used_tgt.add(t)
        pairs.append(MinedPair(s, t, float(cand_score[o])))
    return pairs


def mine(src, tgt, k: int = 4, strategy: str = "max", backend: str = "torch", device=None) -> list[MinedPair]:
    """Mine translation pairs between two unaligned corpora (see the module docstring).

    Returns candidate pairs (indices into ``src`` and ``tgt``) with their margin scores, best first;
    with ``max`` and ``intersect`` each source and target is used at most once. Threshold them
    with :func:`f1_at_threshold` / :func:`best_threshold`.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown mining strategy {strategy!r} ({', '.join(STRATEGIES)})")
    xs, ys = _as_tensor(src, device), _as_tensor(tgt, device)
    _check_pair(xs, ys, aligned=False)
    return mine_neighbours(neighbours(xs, ys, k, backend=backend, device=device), strategy)


def f1_at_threshold(
    pairs: list[tuple[str, str, float]], gold: set[tuple[str, str]], threshold: float
) -> dict:
    """Precision, recall, F1 (x100) of the pairs scoring ``>= threshold`` against ``gold``."""
    if not gold:
        raise DataError("gold alignment is empty")
    predicted = {(s, t) for s, t, score in pairs if score >= threshold}
    tp = len(predicted & gold)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(gold)
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {
        "precision": 100 * p,
        "recall": 100 * r,
        "f1": 100 * f1,
        "threshold": threshold,
        "n_predicted": len(predicted),
    }


def best_threshold(pairs: list[tuple[str, str, float]], gold: set[tuple[str, str]]) -> float:
    """The score threshold maximising F1 of ``pairs`` against ``gold`` (use on a dev split only).

    XTREME's / LASER's ``bucc_optimize``: cut the pairs ranked by score where F1 is highest (the
    first such cut) and return the midpoint between the last pair kept and the next one, so that
    ``>= threshold`` keeps exactly the cut on this split and splits the gap on another. Unlike
    ``bucc_optimize``, a cut falls only between distinct scores (ties are all in or all out;
    ``bucc_optimize`` may choose a cut inside a tie and then keeps the whole tie), and a best cut
    that keeps every pair returns the lowest score (``bucc_optimize`` fails there). When no gold
    pair is among ``pairs`` every F1 is 0 and, as in ``bucc_optimize``, the threshold is 0.
    """
    if not gold:
        raise DataError("gold alignment is empty")
    ranked = sorted(pairs, key=lambda p: -p[2])
    tp, best_f1, best_t = 0, 0.0, 0.0
    for n, (s, t, score) in enumerate(ranked, start=1):
        tp += (s, t) in gold
        # Only cut between distinct scores: ties are all in or all out.
        if n < len(ranked) and ranked[n][2] == score:
            continue
        f1 = 2 * tp / (n + len(gold))
        if f1 > best_f1:
            best_f1 = f1
            best_t = (score + ranked[n][2]) / 2 if n < len(ranked) else score
    if tp == 0:
        log.warning(
            "no gold pair among the %d candidates: threshold 0 (bucc_optimize's default)", len(ranked)
        )
    return best_t
