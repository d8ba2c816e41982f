"""Evaluation math against naive references: margins, xsim, retrieval, mining, Spearman, classification,
and the encoder's cache / de-duplication / prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from polyalign.errors import ConfigError, DataError
from polyalign.eval import bitext, classification, sts
from polyalign.eval.encode import Encoder, model_fingerprint
from polyalign.mine import score


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rand(n, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Naive references (plain Python loops)


def naive_margin(x, y, k):
    x, y = _unit(x), _unit(y)
    cos = [[float(np.dot(a, b)) for b in y] for a in x]
    cos_t = [[cos[i][j] for i in range(len(x))] for j in range(len(y))]
    a_mean = [sum(sorted(row, reverse=True)[:k]) / k for row in cos]
    b_mean = [sum(sorted(col, reverse=True)[:k]) / k for col in cos_t]
    # cos / (sum_x / 2k + sum_y / 2k)
    return [[cos[i][j] / (a_mean[i] / 2 + b_mean[j] / 2) for j in range(len(y))] for i in range(len(x))]


def naive_xsim_errors(x, y, k):
    m = naive_margin(x, y, k)
    return sum(1 for i, row in enumerate(m) if max(range(len(row)), key=row.__getitem__) != i)


def test_margin_matrix_matches_naive_loops():
    x, y = _rand(23, seed=1), _rand(19, seed=2)
    got = bitext.margin_matrix(x, y, k=4).numpy()
    np.testing.assert_allclose(got, np.array(naive_margin(x, y, 4)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("noise", [0.3, 1.0, 3.0])
def test_xsim_all_candidates_matches_naive_loops(noise):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 12)).astype(np.float32)
    y = x + noise * rng.normal(size=x.shape).astype(np.float32)
    # The all-candidates variant (LASER's own rule is checked against LASER in test_xsim_laser.py).
    expected = naive_xsim_errors(x, y, 4)
    assert bitext.xsim_all_candidates_errors(x, y, k=4) == expected
    if noise == 3.0:
        assert expected > 0  # the test can fail: there are errors to count


def test_xsim_chunking_gives_same_result(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 8)).astype(np.float32)
    y = x + 2 * rng.normal(size=x.shape).astype(np.float32)
    full = bitext.xsim_errors(x, y)
    monkeypatch.setattr(score, "BLOCK_ELEMENTS", 7 * 50)  # 7 rows per chunk
    assert bitext.xsim_errors(x, y) == full
    assert bitext.retrieval_accuracy(x, y) == pytest.approx(
        100 * np.mean(np.argmax(_unit(x) @ _unit(y).T, axis=1) == np.arange(50))
    )


def test_retrieval_accuracy_identity_and_permutation():
    x = np.eye(10, dtype=np.float32)
    assert bitext.retrieval_accuracy(x, x) == 100.0
    perm = np.arange(10)
    perm[[0, 1]] = perm[[1, 0]]  # swap two rows: 8 of 10 stay aligned
    assert bitext.retrieval_accuracy(x, x[perm]) == pytest.approx(80.0)
    perm = np.roll(np.arange(10), 1)  # every row moved
    assert bitext.retrieval_accuracy(x, x[perm]) == 0.0


def test_retrieval_errors_on_bad_shapes():
    with pytest.raises(DataError, match="same size"):
        bitext.retrieval_accuracy(np.eye(3), np.ones((2, 3)))
    with pytest.raises(DataError, match="empty"):
        bitext.retrieval_accuracy(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(DataError, match="sizes differ"):
        bitext.xsim_errors(np.ones((3, 3)), np.ones((3, 4)))


# ------------------------------------------------------------------------------------------------
# Mining


def _naive_mine_max(x, y, k):
    m = np.array(naive_margin(x, y, k))
    cos = _unit(x) @ _unit(y).T
    cand = []
    for i in range(len(x)):
        nn = np.argsort(-cos[i])[:k]
        j = max(nn, key=lambda j: m[i, j])
        cand.append((m[i, j], i, int(j)))
    for j in range(len(y)):
        nn = np.argsort(-cos[:, j])[:k]
        i = max(nn, key=lambda i: m[i, j])
        cand.append((m[i, j], int(i), j))
    used_s, used_t, out = set(), set(), []
    for _score, i, j in sorted(cand, key=lambda c: -c[0]):
        if i not in used_s and j not in used_t:
            used_s.add(i)
            used_t.add(j)
            out.append((i, j))
    return out


def test_mine_max_matches_naive():
    x, y = _rand(30, 8, seed=5), _rand(25, 8, seed=6)
    got = [(p.src, p.tgt) for p in bitext.mine(x, y, k=3)]
    assert got == _naive_mine_max(x, y, 3)
    inter = bitext.mine(x, y, k=3, strategy="intersect")
    assert {(p.src, p.tgt) for p in inter} <= set(got)


def _bucc_case(seed, n_pairs=15, n_src_extra=10, n_tgt_extra=8, d=32):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_pairs, d))
    src = np.concatenate([base, rng.normal(size=(n_src_extra, d))])
    tgt = np.concatenate([base + 0.1 * rng.normal(size=base.shape), rng.normal(size=(n_tgt_extra, d))])
    s_order, t_order = rng.permutation(len(src)), rng.permutation(len(tgt))
    src, tgt = src[s_order], tgt[t_order]
    s_ids = [f"s{seed}-{i}" for i in range(len(src))]
    t_ids = [f"t{seed}-{i}" for i in range(len(tgt))]
    inv_s, inv_t = np.argsort(s_order), np.argsort(t_order)
    gold = {(s_ids[inv_s[i]], t_ids[inv_t[i]]) for i in range(n_pairs)}
    return src, tgt, s_ids, t_ids, gold


class _LookupEncoder:
    """encode(texts) -> the vectors a test assigned to these 'texts'."""

    def __init__(self, table):
        self.table = table

    def encode(self, texts, key=None):
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def test_bucc_f1_known_answer(tmp_path):
    splits = {}
    table = {}
    for name, seed in (("sample", 1), ("training", 2)):
        src, tgt, s_ids, t_ids, gold = _bucc_case(seed)
        s_txt = [f"src {i}" for i in s_ids]
        t_txt = [f"tgt {i}" for i in t_ids]
        table.update(zip(s_txt, src))
        table.update(zip(t_txt, tgt))
        (tmp_path / f"de-en.{name}.de").write_text("".join(f"{i}\t{t}\n" for i, t in zip(s_ids, s_txt)))
        (tmp_path / f"de-en.{name}.en").write_text("".join(f"{i}\t{t}\n" for i, t in zip(t_ids, t_txt)))
        (tmp_path / f"de-en.{name}.gold").write_text("".join(f"{s}\t{t}\n" for s, t in sorted(gold)))
        splits[name] = gold
    found = bitext.find_bucc_splits(tmp_path)
    assert set(found) == {"de-en"} and found["de-en"]["dev"].gold == splits["sample"]
    res = bitext.bucc_evaluate(_LookupEncoder(table), found["de-en"]["dev"], found["de-en"]["test"])
    assert res["f1"] == pytest.approx(100.0)
    assert res["precision"] == pytest.approx(100.0) and res["recall"] == pytest.approx(100.0)
    # A threshold chosen too high loses recall, one too low loses precision.
    pairs = bitext.mine(
        *[
            np.stack([table[t] for t in x])
            for x in (found["de-en"]["test"].src_texts, found["de-en"]["test"].tgt_texts)
        ]
    )
    test = found["de-en"]["test"]
    named = [(test.src_ids[p.src], test.tgt_ids[p.tgt], p.score) for p in pairs]
    assert bitext.f1_at_threshold(named, test.gold, -1e9)["precision"] < 100
    assert bitext.f1_at_threshold(named, test.gold, 1e9)["recall"] == 0


def test_bucc_task_through_the_runner(tmp_path):
    from polyalign.eval.runner import evaluate

    table = {}
    for name, seed in (("dev", 3), ("test", 4)):
        src, tgt, s_ids, t_ids, gold = _bucc_case(seed)
        table.update({f"s {i}": v for i, v in zip(s_ids, src)})
        table.update({f"t {i}": v for i, v in zip(t_ids, tgt)})
        (tmp_path / f"fr-en.{name}.fr").write_text("".join(f"{i}\ts {i}\n" for i in s_ids))
        (tmp_path / f"fr-en.{name}.en").write_text("".join(f"{i}\tt {i}\n" for i in t_ids))
        (tmp_path / f"fr-en.{name}.gold").write_text("".join(f"{s}\t{t}\n" for s, t in sorted(gold)))
    rows = evaluate(_LookupEncoder(table), tasks=[f"bucc:{tmp_path}"], data_dir=tmp_path, use_cache=False)
    f1 = next(r for r in rows if r["metric"] == "f1")
    assert f1["task"] == "bucc" and f1["subset"] == "fr-en" and f1["value"] == pytest.approx(100.0)


def test_best_threshold_and_f1_by_hand():
    gold = {("a", "1"), ("b", "2"), ("c", "3")}
    pairs = [("a", "1", 0.9), ("b", "2", 0.8), ("x", "9", 0.7), ("c", "3", 0.6), ("y", "8", 0.5)]
    # cut after 2: P=1, R=2/3, F1=0.8; after 4: P=3/4, R=1, F1=6/7 -> best; the threshold is the
    # midpoint to the next score (bucc_optimize's rule)
    assert bitext.best_threshold(pairs, gold) == pytest.approx(0.55)
    res = bitext.f1_at_threshold(pairs, gold, 0.6)
    assert res["f1"] == pytest.approx(100 * 6 / 7)
    assert res["precision"] == pytest.approx(75.0) and res["recall"] == pytest.approx(100.0)


def test_bucc_reader_errors(tmp_path):
    (tmp_path / "s").write_text("1\thallo\n2\twelt\n")
    (tmp_path / "t").write_text("a\thello\n")
    (tmp_path / "g").write_text("1\tb\n")
    with pytest.raises(DataError, match="target id 'b'"):
        bitext.read_bucc_split(tmp_path / "s", tmp_path / "t", tmp_path / "g")
    (tmp_path / "d").write_text("1\thallo\n1\twelt\n")
    with pytest.raises(DataError, match="duplicate id"):
        bitext.read_bucc_split(tmp_path / "d", tmp_path / "t", tmp_path / "g")
    with pytest.raises(DataError, match="not found"):
        bitext.read_bucc_split(tmp_path / "missing", tmp_path / "t", tmp_path / "g")


def test_exact_and_faiss_agree():
    pytest.importorskip("faiss")
    x, y = _rand(200, 24, seed=7), _rand(150, 24, seed=8)
    s1, i1 = bitext.knn(x, y, 5, backend="torch")
    s2, i2 = bitext.knn(x, y, 5, backend="faiss")
    assert torch.equal(i1, i2)
    torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-5)
    m1 = [(p.src, p.tgt) for p in bitext.mine(x, y, backend="torch")]
    m2 = [(p.src, p.tgt) for p in bitext.mine(x, y, backend="faiss")]
    assert m1 == m2


def test_faiss_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(score, "faiss_available", lambda: False)
    with pytest.raises(ConfigError, match="faiss"):
        bitext.knn(np.eye(3), np.eye(3), 1, backend="faiss")


# ------------------------------------------------------------------------------------------------
# Spearman


def _rank_pearson(a, b):
    ra, rb = stats.rankdata(a), stats.rankdata(b)  # average ranks for ties
    return 100 * np.corrcoef(ra, rb)[0, 1]


def test_spearman_with_ties_matches_reference():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 6, size=200).astype(float)  # many ties, like STS gold scores
    pred = gold + rng.normal(scale=2.0, size=200)
    pred[::7] = 0.5  # ties in the predictions too
    assert sts.spearman(pred, gold) == pytest.approx(_rank_pearson(pred, gold), abs=1e-9)
    assert sts.spearman(pred, gold) == pytest.approx(100 * stats.spearmanr(pred, gold).statistic)
    assert sts.spearman(gold, gold) == pytest.approx(100.0)
    assert sts.spearman(-gold, gold) == pytest.approx(-100.0)


def test_spearman_bad_input():
    with pytest.raises(DataError, match="constant"):
        sts.spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(DataError, match="same length"):
        sts.spearman([1, 2], [1, 2, 3])


def test_evaluate_sts_uses_cosine():
    s1 = ["a", "b", "c", "d"]
    s2 = ["a2", "b2", "c2", "d2"]
    rng = np.random.default_rng(1)
    table = {t: rng.normal(size=8) for t in s1 + s2}
    cos = sts.cosine_rows(np.stack([table[t] for t in s1]), np.stack([table[t] for t in s2]))
    data = sts.StsData(s1, s2, np.array(cos), ("en", "en"))
    assert sts.evaluate_sts(_LookupEncoder(table), data) == pytest.approx(100.0)
    reversed_gold = sts.StsData(s1, s2, -np.array(cos), ("en", "en"))
    assert sts.evaluate_sts(_LookupEncoder(table), reversed_gold) == pytest.approx(-100.0)


# ------------------------------------------------------------------------------------------------
# Classification


def test_classification_separable_is_near_perfect():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 16)) * 5
    y = np.repeat(np.arange(4), 60)
    x = centers[y] + rng.normal(size=(len(y), 16))
    ty = np.repeat(np.arange(4), 25)
    tx = centers[ty] + rng.normal(size=(len(ty), 16))
    res = classification.evaluate_classification(
        x, y.astype(str), tx, ty.astype(str), n_experiments=3, samples_per_label=8
    )
    assert res["accuracy"] >= 99.0


def test_classification_random_labels_is_near_chance():
    rng = np.random.default_rng(1)
    x, tx = rng.normal(size=(400, 32)), rng.normal(size=(400, 32))
    y, ty = rng.integers(0, 4, 400), rng.integers(0, 4, 400)
    res = classification.evaluate_classification(x, y, tx, ty, n_experiments=5, samples_per_label=32)
    assert abs(res["accuracy"] - 25.0) < 8.0


def test_transfer_scores_every_test_set_with_the_same_classifiers():
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(3, 8)) * 4
    y = np.repeat(np.arange(3), 20)
    x = centers[y] + rng.normal(size=(60, 8))
    good = (centers[y] + rng.normal(size=(60, 8)), y)
    bad = (rng.normal(size=(60, 8)), y)
    res = classification.evaluate_transfer(
        x, y, {"good": good, "bad": bad}, n_experiments=2, samples_per_label=5
    )
    assert res["good"]["accuracy"] > 90 > res["bad"]["accuracy"]


def test_undersampling_and_stratified_subset():
    labels = np.array(["a"] * 50 + ["b"] * 5 + ["c"] * 20)
    idx = classification.undersample(labels, 8, np.random.default_rng(0).permutation(len(labels)))
    counts = {k: int((labels[idx] == k).sum()) for k in "abc"}
    assert counts == {"a": 8, "b": 5, "c": 8}
    s1 = classification.sample_indices(labels, 3, 8, seed=1)
    s2 = classification.sample_indices(labels, 3, 8, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2)) and not np.array_equal(s1[0], s1[1])
    sub = classification.stratified_subset(labels, 30, seed=0)
    assert len(sub) == 30 and len(set(sub)) == 30
    assert {k: int((labels[sub] == k).sum()) for k in "abc"} == {"a": 20, "b": 2, "c": 8}


def test_classification_bad_input():
    with pytest.raises(DataError, match="2 distinct labels"):
        classification.evaluate_classification(np.ones((4, 2)), ["a"] * 4, np.ones((2, 2)), ["a", "a"])
    with pytest.raises(DataError, match="empty training"):
        classification.evaluate_classification(np.ones((0, 2)), [], np.ones((2, 2)), ["a", "b"])
    with pytest.raises(DataError, match="labels"):
        classification.evaluate_classification(np.ones((4, 2)), ["a", "b"], np.ones((2, 2)), ["a", "b"])


# ------------------------------------------------------------------------------------------------
# Encoder


class CountingModel:
    """A fake model: deterministic vectors from the text, records what it was asked to encode."""

    def __init__(self, dim=8, salt=0):
        self.calls: list[list[str]] = []
        self.dim, self.salt = dim, salt

    def encode(self, texts):
        self.calls.append(list(texts))
        out = []
        for t in texts:
            rng = np.random.default_rng(abs(hash((t, self.salt))) % (2**32))
            out.append(rng.normal(size=self.dim))
        return np.array(out, dtype=np.float32)


def test_encoder_dedupes_sorts_and_normalises(tmp_path):
    model = CountingModel()
    enc = Encoder(model, cache_dir=tmp_path, chunk_size=100)
    out = enc.encode(["bb", "a", "ccc", "a"])
    assert model.calls == [["ccc", "bb", "a"]]  # unique, longest first
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out[1], out[3])
    enc.encode(["a", "dddd"])
    assert model.calls[-1] == ["dddd"]  # memoised texts are not encoded again


def test_encoder_disk_cache_hits_and_invalidation(tmp_path):
    model = CountingModel()
    first = Encoder(model, cache_dir=tmp_path).encode(["x", "y"], key="set/a")
    n_calls = len(model.calls)
    again = Encoder(model, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(["x", "y"], key="set/a"), first)
    assert len(model.calls) == n_calls and again.cache_hits == 1
    # Different texts under the same key, or another prompt: no stale reuse.
    again.encode(["x", "z"], key="set/a")
    assert len(model.calls) == n_calls + 1
    Encoder(model, cache_dir=tmp_path, prompt="query: ").encode(["x", "y"], key="set/a")
    assert model.calls[-1] == ["query: x", "query: y"]
    assert not list(tmp_path.rglob(".*"))  # atomic writes leave no temporaries


def test_fingerprint_changes_with_weights(tiny_encoder, tmp_path):
    from polyalign.models.tiny import build_tiny_encoder

    other = build_tiny_encoder(tmp_path / "other", seed=1)
    assert model_fingerprint(tiny_encoder) == model_fingerprint(tiny_encoder)
    assert model_fingerprint(tiny_encoder) != model_fingerprint(other)
    with torch.no_grad():
        p = next(other.parameters())
        p.add_(0.01)
    before = model_fingerprint(other)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    assert model_fingerprint(other) != before


def test_encoder_with_sentence_transformer_prompts(tiny_encoder, tmp_path):
    enc = Encoder(tiny_encoder, cache_dir=tmp_path)
    assert enc.prompt is None
    tiny_encoder.prompts = {"query": "query: "}
    tiny_encoder.default_prompt_name = "query"
    try:
        enc = Encoder(tiny_encoder, cache_dir=tmp_path)
        assert enc.prompt == "query: "
        with_default = enc.encode(["hello world"])
        explicit = Encoder(tiny_encoder, prompt="query: ", use_cache=False).encode(["hello world"])
        none = Encoder(tiny_encoder, prompt="", use_cache=False)
        assert none.prompt is None
        np.testing.assert_allclose(with_default, explicit, atol=1e-5)
        assert not np.allclose(none.encode(["hello world"]), with_default, atol=1e-4)
    finally:
        tiny_encoder.prompts = {}
        tiny_encoder.default_prompt_name = None
