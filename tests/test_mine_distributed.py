"""`polyalign mine` under torchrun: two gloo ranks share the encoding and give what one process gives.

Each rank encodes only its shards of each file (rank r: shards r, r+2, ...) into the shared cache;
after a barrier every shard is read back, and rank 0 alone searches and writes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).parent))
from _train_fixtures import save_tiny  # noqa: E402
from polyalign.errors import ConfigError  # noqa: E402
from polyalign.mine import embed  # noqa: E402

TEXTS = {
    # 11 sentences, shards of 4: rank 0 encodes shards 0 and 2 (7 sentences), rank 1 shard 1 (4).
    "big": [f"sentence number {i} about {w}" for i, w in enumerate("abcdefghijk")],
    # 3 sentences: shards shrink to ceil(3 / 2) = 2 rows so that both ranks have work.
    "small": ["one small file", "with three lines", "and no more"],
}
EN = ["the cat sleeps", "the dog runs", "rain falls today", "we eat bread", "a red car", "snow is white"]
DE = ["die Katze schläft", "der Hund rennt", "heute fällt Regen", "wir essen Brot", "ein rotes Auto"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(model_path: str):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    seen: list[str] = []
    encode = model.encode

    def counting(texts, **kw):
        seen.extend(texts)
        return encode(texts, **kw)

    model.encode = counting  # the fingerprint (weights, layout) is unchanged
    return model, seen


def _worker(rank: int, world: int, port: int, model_path: str, tmp: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    from polyalign.mine.pipeline import MineConfig, mine_files

    model, seen = _load(model_path)
    out = {}
    for name, texts in TEXTS.items():
        emb = embed.embed_sentences(model, texts, Path(tmp) / "cache", shard_size=4, batch_size=3)
        out[name] = emb[:]
    np.savez(Path(tmp) / f"rank{rank}.npz", seen=np.array(seen, dtype=object), **out)
    config = MineConfig(
        threshold=-100.0, cache_dir=str(Path(tmp) / "mine-cache"), shard_size=2, show_progress=False
    )
    result = mine_files(
        model_path, f"eng:{tmp}/en.txt", [f"deu:{tmp}/de.txt"], Path(tmp) / "mined-2", config=config
    )
    assert (result is None) == (rank != 0)
    torch.distributed.barrier()  # leave together (see tests/_dist_losses_worker.py)
    torch.distributed.destroy_process_group()


def test_two_ranks_encode_their_shards_and_match_one_process(tmp_path):
    model_path = str(save_tiny(tmp_path / "tiny", dropout=0.0))
    (tmp_path / "en.txt").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE) + "\n", encoding="utf-8")
    mp.spawn(_worker, args=(2, _free_port(), model_path, str(tmp_path)), nprocs=2, join=True)
    ranks = [np.load(tmp_path / f"rank{r}.npz", allow_pickle=True) for r in (0, 1)]

    # Each rank encoded only its own shards: together every sentence once.
    seen = [sorted(r["seen"]) for r in ranks]  # sentence-transformers reorders a call by length
    assert seen[0] == sorted(TEXTS["big"][0:4] + TEXTS["big"][8:11] + TEXTS["small"][0:2])
    assert seen[1] == sorted(TEXTS["big"][4:8] + TEXTS["small"][2:3])

    model, _ = _load(model_path)
    for name, texts in TEXTS.items():
        one = embed.embed_sentences(model, texts, None, shard_size=4, batch_size=3)[:]
        for r in ranks:
            assert r[name].shape == one.shape
            # Same shards as one process ("big"): identical; other batch cuts ("small"): float16 rounding.
            np.testing.assert_allclose(r[name], one, atol=0 if name == "big" else 2e-3)

    # Rank 0 mined and wrote exactly what a single process writes.
    from polyalign.mine.pipeline import MineConfig, mine_files

    config = MineConfig(
        threshold=-100.0, cache_dir=str(tmp_path / "mine-cache-1"), shard_size=2, show_progress=False
    )
    mine_files(
        model_path, f"eng:{tmp_path}/en.txt", [f"deu:{tmp_path}/de.txt"], tmp_path / "mined-1", config=config
    )
    two = (tmp_path / "mined-2" / "pairs" / "eng-deu.tsv").read_text(encoding="utf-8")
    assert two == (tmp_path / "mined-1" / "pairs" / "eng-deu.tsv").read_text(encoding="utf-8")
    assert len(two.splitlines()) >= 3
    meta = json.loads((tmp_path / "mined-2" / "mine.json").read_text())
    assert meta["groups"]["groups"] >= 3


def test_torchrun_without_a_cache_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(embed, "rank_world", lambda: (0, 2))
    with pytest.raises(ConfigError, match="drop --no-cache"):
        embed.embed_sentences(lambda texts: np.ones((len(texts), 4)), ["a", "b"], None)
