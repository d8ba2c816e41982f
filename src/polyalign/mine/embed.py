"""Embeddings for mining: each language encoded once, kept on disk as float16 shards, memory-mapped.

A language's sentences are cut into shards of ``shard_size`` rows. Each shard is one ``.npy`` file
named by a hash of the model fingerprint, the prompt and the shard's texts, written atomically
(:func:`polyalign.io.atomic_path`): a killed run leaves only whole shards, and the next run with
the same model and text reuses them and encodes only the rest. float16 halves disk and memory
(LASER's ``--fp16`` embeddings do the same); cosines move by ~1e-3, far below mining margins.
The shards are opened with ``mmap_mode="r"``, so memory holds only the rows being searched.

Under torchrun (a process group of ``W > 1`` ranks, see :func:`rank_world`), rank ``r`` encodes
shards ``r, r + W, r + 2W, ...`` of each file into the cache, all ranks meet at a barrier, and then
every shard is read from the cache (rank 0 searches; the others are done). The cache must be a
folder all ranks see (one machine, or a shared disk). Shards are ``min(shard_size, ceil(n / W))``
rows, so that every rank has work even for a small file; for files of ``W x shard_size`` sentences
or more that is ``shard_size``, the single-process layout, so the shards are reused across world
sizes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError, OutputError
from ..eval.encode import Encoder, as_encoder, normalize
from ..io import atomic_path
from .defaults import (
    DEFAULT_SHARD_SIZE as DEFAULT_SHARD_SIZE,  # re-exported
)

log = logging.getLogger(__name__)


class ShardedEmbeddings:
    """Rows of several ``(n_i, d)`` arrays read as one ``(sum n_i, d)`` set; slices come back as
    float32 (only the rows asked for are read from the memory-mapped files)."""

    def __init__(self, shards: list[np.ndarray], paths: list[Path] | None = None):
        self.shards = shards
        self.paths = paths or []
        self._starts = np.cumsum([0] + [len(s) for s in shards])
        dims = {s.shape[1] for s in shards}
        if len(dims) > 1:
            raise ConfigError(f"embedding shards differ in size: {sorted(dims)}")
        self.dim = dims.pop() if dims else 0

    @property
    def shape(self) -> tuple[int, int]:
        return int(self._starts[-1]), self.dim

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("ShardedEmbeddings supports row slices only")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("ShardedEmbeddings supports contiguous row slices only")
        parts = []
        for i, shard in enumerate(self.shards):
            lo, hi = max(start, self._starts[i]), min(stop, self._starts[i + 1])
            if lo < hi:
                parts.append(np.asarray(shard[lo - self._starts[i] : hi - self._starts[i]], dtype=np.float32))
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def nbytes_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.paths if p.is_file())


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def shard_name(fingerprint: str, prompt: str | None, texts: list[str]) -> str:
    h = hashlib.sha256()
    h.update(fingerprint.encode() + b"\0prompt\0" + (prompt or "").encode() + b"\0")
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\n")
    return f"shard-{len(texts)}-{h.hexdigest()[:24]}.npy"


def _load_shard(path: Path, n: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        log.warning("re-encoding unreadable shard %s (%s)", path, e)
        return None
    if arr.ndim != 2 or arr.shape[0] != n or arr.dtype != np.float16:
        log.warning(
            "re-encoding shard %s of shape %s %s (expected %d rows float16)", path, arr.shape, arr.dtype, n
        )
        return None
    return arr


def embed_sentences(
    model,
    texts: list[str],
    cache_dir: str | os.PathLike | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 32,
    desc: str = "encoding",
    show_progress: bool | None = None,
) -> ShardedEmbeddings:
    """Unit-length float16 embeddings of ``texts``, shard by shard; with ``cache_dir`` the shards are
    files under ``cache_dir/<model fingerprint>/`` (reused when present), else kept in memory.
    ``model``: an :class:`~polyalign.eval.encode.Encoder` or anything with ``encode(list[str])``."""
    if shard_size < 1:
        raise ConfigError(f"shard_size must be >= 1, not {shard_size}")
    rank, world = rank_world()
    if world > 1:
        if cache_dir is None:
            raise ConfigError(
                "encoding under torchrun writes each rank's shards to the embedding cache: "
                "give a cache folder all ranks see (drop --no-cache)"
            )
        shard_size = max(1, min(shard_size, math.ceil(len(texts) / world)))
    # The encoder's own memo would keep every vector in memory: cap it at one shard.
    encoder: Encoder = as_encoder(model, batch_size=batch_size, use_cache=False, memo_limit=shard_size)
    show = (sys.stderr.isatty() if show_progress is None else show_progress) and rank == 0
    folder = Path(cache_dir).expanduser() / encoder.fingerprint if cache_dir is not None else None
    starts = list(range(0, len(texts), shard_size))
    own = [i for i in range(len(starts)) if i % world == rank]
    shards: dict[int, np.ndarray] = {}
    reused = 0
    from tqdm.auto import tqdm

    total = sum(len(texts[starts[i] : starts[i] + shard_size]) for i in own)
    with tqdm(total=total, desc=desc, unit="sent", disable=not show) as bar:
        for i in own:
            chunk = texts[starts[i] : starts[i] + shard_size]
            path = folder / shard_name(encoder.fingerprint, encoder.prompt, chunk) if folder else None
            arr = _load_shard(path, len(chunk)) if path else None
            if arr is not None:
                reused += 1
            else:
                arr = normalize(encoder.encode(chunk)).astype(np.float16)
                if path is not None:
                    try:
                        with atomic_path(path) as tmp, open(tmp, "wb") as f:
                            np.save(f, arr, allow_pickle=False)
                    except OSError as e:
                        raise OutputError(f"{path}: cannot write the embedding cache ({e})") from None
                    arr = np.load(path, mmap_mode="r", allow_pickle=False)
            shards[i] = arr
            bar.update(len(chunk))
    if world > 1:
        paths = [
            folder / shard_name(encoder.fingerprint, encoder.prompt, texts[s : s + shard_size])
            for s in starts
        ]
        _barrier()  # every rank's shards are on disk
        for i in range(len(starts)):
            if i not in shards:
                shards[i] = _load_shard(paths[i], len(texts[starts[i] : starts[i] + shard_size]))
                if shards[i] is None:
                    raise OutputError(
                        f"{paths[i]}: rank {i % world}'s shard is not in the cache after the barrier "
                        "(is the cache folder on a disk every rank sees?)"
                    )
    if reused:
        log.info("%s: reused %d of %d cached shards", desc, reused, len(shards))
    ordered = [shards[i] for i in range(len(starts))]
    return ShardedEmbeddings(ordered, [Path(s.filename) for s in ordered if isinstance(s, np.memmap)])
