"""The ONNX Runtime encoding backend (``polyalign eval --backend onnx``): the same embeddings and the
same scores as the torch path, in the caller's order, cached per weights, never mixed with torch's."""

from __future__ import annotations

import numpy as np
import pytest

from polyalign.cli import main
from polyalign.errors import ConfigError
from polyalign.eval.encode import Encoder
from polyalign.eval.runner import evaluate
from polyalign.eval.tasks import SUITES

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = [
    "short",
    "a considerably longer sentence, with punctuation and several words in it",
    "x",
    "Ünïcödé 中文 テキスト",
    "medium length text here",
    "short",  # a duplicate: encoded once, returned twice
]


@pytest.fixture
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYALIGN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_onnx_embeddings_equal_torch_in_the_callers_order(tiny_encoder, onnx_cache, batch_size):
    torch_emb = Encoder(tiny_encoder, batch_size=batch_size, use_cache=False, show_progress=False).encode(
        TEXTS
    )
    enc = Encoder(tiny_encoder, batch_size=batch_size, use_cache=False, show_progress=False, backend="onnx")
    onnx_emb = enc.encode(TEXTS)
    np.testing.assert_allclose(onnx_emb, torch_emb, atol=2e-5)
    # rows follow the caller's order, not the length-sorted batch order
    rev = Encoder(tiny_encoder, use_cache=False, show_progress=False, backend="onnx").encode(TEXTS[::-1])
    np.testing.assert_allclose(rev, onnx_emb[::-1], atol=2e-5)
    assert enc.n_encoded == len(set(TEXTS))


def test_onnx_applies_the_prompt_and_the_token_limit(tiny_encoder, onnx_cache):
    for prompt in ("query: ", ""):
        ref = Encoder(tiny_encoder, prompt=prompt, use_cache=False, show_progress=False).encode(TEXTS)
        got = Encoder(tiny_encoder, prompt=prompt, use_cache=False, show_progress=False, backend="onnx")
        np.testing.assert_allclose(got.encode(TEXTS), ref, atol=2e-5)
    before = tiny_encoder.max_seq_length
    try:
        tiny_encoder.max_seq_length = 6  # truncation happens in sentence-transformers' tokenisation
        ref = Encoder(tiny_encoder, use_cache=False, show_progress=False).encode(TEXTS)
        got = Encoder(tiny_encoder, use_cache=False, show_progress=False, backend="onnx").encode(TEXTS)
        np.testing.assert_allclose(got, ref, atol=2e-5)
    finally:
        tiny_encoder.max_seq_length = before


def test_onnx_graph_is_cached_per_weights(tiny_encoder, onnx_cache):
    import torch

    from polyalign.eval.onnx_backend import OnnxTransformer
    from polyalign.models.tiny import build_tiny_encoder

    first = OnnxTransformer(tiny_encoder)
    assert first.path.is_file() and first.path.parent.parent == onnx_cache
    mtime = first.path.stat().st_mtime_ns
    assert OnnxTransformer(tiny_encoder).path.stat().st_mtime_ns == mtime  # reused, not re-exported
    other = build_tiny_encoder()
    with torch.no_grad():  # one weight changed anywhere: another graph
        w = other[0].model.encoder.layer[-1].output.dense.weight
        w.add_(0.5 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))
    changed = OnnxTransformer(other)
    assert changed.path != first.path
    x = ["the same text"]
    assert not np.allclose(changed.encode(x), first.encode(x))


def test_onnx_embeddings_are_cached_apart_from_torch(tiny_encoder, onnx_cache, tmp_path):
    torch_enc = Encoder(tiny_encoder, cache_dir=tmp_path / "emb", show_progress=False)
    onnx_enc = Encoder(tiny_encoder, cache_dir=tmp_path / "emb", show_progress=False, backend="onnx")
    assert torch_enc.fingerprint != onnx_enc.fingerprint
    torch_enc.encode(TEXTS, key="k")
    onnx_enc.encode(TEXTS, key="k")
    assert onnx_enc.cache_hits == 0 and onnx_enc.n_encoded == len(set(TEXTS))


def test_onnx_backend_errors(tiny_encoder):
    with pytest.raises(ConfigError, match="unknown encoding backend"):
        Encoder(tiny_encoder, backend="tensorrt")
    with pytest.raises(ConfigError, match="sentence-transformers model"):
        Encoder(lambda t: np.ones((len(t), 4)), backend="onnx")


@pytest.mark.data
@pytest.mark.slow
def test_quick_suite_scores_of_onnx_stay_within_0_1_of_torch(tiny_encoder, data_dir, onnx_cache):
    """Every quick-suite score (every task, subset and metric) within 0.1 points of the torch path."""
    kw = dict(suite="quick", data_dir=data_dir, use_cache=False)
    ref = {(r["task"], r["subset"], r["metric"]): r["value"] for r in evaluate(tiny_encoder, **kw)}
    rows = evaluate(tiny_encoder, backend="onnx", **kw)
    got = {(r["task"], r["subset"], r["metric"]): r["value"] for r in rows}
    assert got.keys() == ref.keys() and {r["task"] for r in rows} == {
        t.split(":")[0] for t in SUITES["quick"]
    }
    worst = max(ref, key=lambda k: abs(got[k] - ref[k]))
    assert abs(got[worst] - ref[worst]) <= 0.1, (worst, got[worst], ref[worst])
    assert {r["backend"] for r in rows} == {"onnx"}


@pytest.mark.data
def test_cli_backend_option(tiny_encoder, data_dir, onnx_cache, tmp_path):
    import json

    tiny_encoder.save(str(tmp_path / "model"))
    out = tmp_path / "res.jsonl"
    args = ["eval", "--model", str(tmp_path / "model"), "--tasks", "tatoeba:deu@20", "--quiet"]
    assert main(args + ["--data-dir", str(data_dir), "--out", str(out), "--backend", "onnx"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["backend"] for r in rows} == {"onnx"}
