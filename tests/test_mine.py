"""`polyalign mine`: planted translations among distractors, strategies, thresholds, groups, resume.

The "model" is a lookup table: each text has a fixed vector, translations share a meaning vector
plus noise, distractors are random. Every number below can be worked out from the table.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from polyalign.cli import main
from polyalign.errors import ConfigError, DataError
from polyalign.eval import bitext
from polyalign.mine import score
from polyalign.mine.embed import ShardedEmbeddings, embed_sentences
from polyalign.mine.filters import near_duplicate_key, wrong_script
from polyalign.mine.pipeline import (
    DEFAULT_THRESHOLD,
    MineConfig,
    mine_files,
    mine_texts,
    prepare_sentences,
    read_gold,
)


def tag(i: int) -> str:
    """Letters for a number, so that sentences differ in letters (near-duplicate keys ignore digits)."""
    return "".join("abcdefghij"[int(c)] for c in str(i))


class FixedModel:
    """encode(texts) -> the table's vectors; counts what it encoded; can fail after n calls."""

    def __init__(self, table: dict[str, np.ndarray], fail_after: int | None = None):
        self.table = table
        self.fail_after = fail_after
        self.encoded: list[str] = []
        self.polyalign_fingerprint = "fixed-v1"

    def encode(self, texts):
        if self.fail_after is not None and len(self.encoded) >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.encoded += list(texts)
        return np.stack([self.table[t] for t in texts]).astype(np.float32)

    def __repr__(self) -> str:  # stable across instances: the fingerprint names the table, not the object
        return "FixedModel()"


def make_world(langs=("deu", "swh"), n_planted=30, n_distract=150, d=32, noise=0.3, seed=0):
    """Pivot 'eng' and each language: n_planted translations of shared meanings (hidden at shuffled
    positions) among n_distract sentences of their own. Returns (table, texts, gold lines)."""
    rng = np.random.default_rng(seed)
    meaning = rng.normal(size=(n_planted, d))
    table, texts, gold = {}, {}, {}
    where = {}
    for lang in ("eng", *langs):
        planted = [f"{lang} sentence {tag(i)}" for i in range(n_planted)]
        extra = [f"{lang} other {tag(i)}" for i in range(n_distract)]
        for i, t in enumerate(planted):
            table[t] = meaning[i] + noise * rng.normal(size=d)
        for t in extra:
            table[t] = rng.normal(size=d)
        order = rng.permutation(n_planted + n_distract)
        lines = [(planted + extra)[o] for o in order]
        texts[lang] = lines
        where[lang] = {t: n for n, t in enumerate(lines, start=1)}
    for lang in langs:
        gold[lang] = [
            (where["eng"][f"eng sentence {tag(i)}"], where[lang][f"{lang} sentence {tag(i)}"])
            for i in range(n_planted)
        ]
    return table, texts, gold


def write_world(tmp_path: Path, texts, gold) -> dict[str, Path]:
    paths = {}
    for lang, lines in texts.items():
        paths[lang] = tmp_path / f"{lang}.txt"
        paths[lang].write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    for lang, pairs in gold.items():
        paths[f"gold-{lang}"] = tmp_path / f"gold-{lang}.tsv"
        paths[f"gold-{lang}"].write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    return paths


def _sentences(texts):
    return {lang: prepare_sentences(lang, lines) for lang, lines in texts.items()}


def _gold_idx(sents, gold):
    return {
        lang: {(sents["eng"].index_of_line[a], sents[lang].index_of_line[b]) for a, b in pairs}
        for lang, pairs in gold.items()
    }


def _cfg(**kw):
    kw.setdefault("use_cache", False)
    kw.setdefault("show_progress", False)
    return MineConfig(**kw)


# ------------------------------------------------------------------------------------------------
# Recovery, strategies, thresholds


def test_planted_pairs_are_recovered_among_distractors():
    table, texts, gold = make_world(n_planted=30, n_distract=300)
    sents = _sentences(texts)
    g = _gold_idx(sents, gold)
    result = mine_texts(FixedModel(table), sents["eng"], [sents["deu"], sents["swh"]], _cfg(), g)
    for lang in ("deu", "swh"):
        dev = result.meta["languages"][lang]["dev"]
        assert dev["precision"] == 100 and dev["recall"] == 100
        assert {(p, j) for p, j, _ in result.results[lang].pairs} == g[lang]
        assert result.meta["languages"][lang]["pairs"]["below_threshold"] > 0  # distractors were candidates
    # The groups are exactly the planted meanings, complete in both languages.
    assert result.meta["groups"] == {"groups": 30, "complete": 30, "near_duplicate_removed": 0}
    for row in result.groups.rows:
        i = row["eng"].split()[-1]
        assert row["deu"] == f"deu sentence {i}" and row["swh"] == f"swh sentence {i}"


def _naive(x, y, k, strategy):
    """LASER's mine_bitexts.py written out with dense numpy matrices."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    cos = x @ y.T
    a = np.sort(cos, axis=1)[:, -k:].mean(axis=1)
    b = np.sort(cos, axis=0)[-k:, :].mean(axis=0)
    margin = cos / ((a[:, None] + b[None, :]) / 2)
    fwd = [max(np.argsort(-cos[i])[:k], key=lambda j, i=i: margin[i, j]) for i in range(len(x))]
    bwd = [max(np.argsort(-cos[:, j])[:k], key=lambda i, j=j: margin[i, j]) for j in range(len(y))]
    if strategy == "forward":
        return {(i, int(j)) for i, j in enumerate(fwd)}
    if strategy == "intersect":
        return {(i, int(j)) for i, j in enumerate(fwd) if bwd[j] == i}
    cand = [(margin[i, j], i, int(j)) for i, j in enumerate(fwd)] + [
        (margin[i, j], int(i), j) for j, i in enumerate(bwd)
    ]
    out, us, ut = set(), set(), set()
    for _, i, j in sorted(cand, key=lambda c: -c[0]):
        if i not in us and j not in ut:
            us.add(i)
            ut.add(j)
            out.add((i, j))
    return out


@pytest.mark.parametrize("strategy", score.STRATEGIES)
def test_each_strategy_matches_laser_written_out(strategy):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(25, 8))
    got = score.mine(x, y, k=3, strategy=strategy)
    assert {(p.src, p.tgt) for p in got} == _naive(x, y, 3, strategy)
    assert [p.score for p in got] == sorted((p.score for p in got), reverse=True)


def test_strategies_differ_as_documented():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(25, 8))  # more sources than targets
    pairs = {s: score.mine(x, y, k=3, strategy=s) for s in score.STRATEGIES}
    fwd_targets = Counter(p.tgt for p in pairs["forward"])
    assert len(pairs["forward"]) == 40 and max(fwd_targets.values()) > 1  # a target chosen twice
    for s in ("max", "intersect"):
        assert len({p.src for p in pairs[s]}) == len(pairs[s]) == len({p.tgt for p in pairs[s]})
    # intersect keeps the forward pairs confirmed backward; it need not be a subset of max (a higher
    # forward margin can take its target in max although that source is not among the target's k-NN).
    inter = {(p.src, p.tgt) for p in pairs["intersect"]}
    assert inter < {(p.src, p.tgt) for p in pairs["forward"]}
    assert inter != {(p.src, p.tgt) for p in pairs["max"]}


def test_threshold_is_chosen_on_dev_and_shared_or_defaulted():
    table, texts, gold = make_world(n_planted=20, n_distract=120, noise=0.8, seed=4)
    sents = _sentences(texts)
    g = _gold_idx(sents, gold)
    cfg = _cfg()
    res = mine_texts(FixedModel(table), sents["eng"], [sents["deu"], sents["swh"]], cfg, {"deu": g["deu"]})
    deu, swh = res.meta["languages"]["deu"], res.meta["languages"]["swh"]
    raw = [
        (p.tgt, p.src, p.score)
        for p in score.mine(
            np.stack([table[t] for t in sents["deu"].texts]), np.stack([table[t] for t in sents["eng"].texts])
        )
    ]
    expected = score.best_threshold(raw, g["deu"])
    assert deu["threshold_source"] == "dev" and deu["threshold"] == pytest.approx(expected, abs=2e-3)
    assert deu["threshold"] != pytest.approx(DEFAULT_THRESHOLD, abs=0.05)
    # Its dev F1 is the best any cut of the dev pairs gives.
    best = max(score.f1_at_threshold(raw, g["deu"], t)["f1"] for _, _, t in raw)
    assert deu["dev"]["f1"] == pytest.approx(best, abs=1.0)
    assert swh["threshold_source"] == "dev-mean" and swh["threshold"] == deu["threshold"]
    res = mine_texts(FixedModel(table), sents["eng"], [sents["swh"]], _cfg(threshold=1.3))
    assert res.meta["languages"]["swh"]["threshold_source"] == "given"
    assert min(s for _, _, s in res.results["swh"].pairs) >= 1.3
    res = mine_texts(FixedModel(table), sents["eng"], [sents["swh"]], cfg)
    assert res.meta["languages"]["swh"]["threshold"] == DEFAULT_THRESHOLD


def test_groups_join_through_the_pivot_and_use_each_sentence_once():
    # forward lets several sentences pick one pivot sentence: the join keeps the best only.
    table, texts, gold = make_world(n_planted=15, n_distract=60, noise=0.5, seed=5)
    sents = _sentences(texts)
    res = mine_texts(
        FixedModel(table), sents["eng"], [sents["deu"], sents["swh"]], _cfg(strategy="forward", threshold=0.0)
    )
    fwd = res.results["deu"].pairs
    assert len({p for p, _, _ in fwd}) < len(fwd)  # pivot sentences chosen more than once
    rows = res.groups.rows
    for col in ("eng", "deu", "swh"):
        used = [r[col] for r in rows if r[col] is not None]
        assert len(used) == len(set(used))
    assert res.meta["languages"]["deu"]["pivot_taken"] == len(fwd) - len({p for p, _, _ in fwd})
    # Each kept member is the best-scoring sentence mined for its pivot sentence.
    best = {}
    for p, j, s in fwd:
        if p not in best or s > best[p][1]:
            best[p] = (j, s)
    by_pivot = {r["eng"]: r["deu"] for r in rows}
    for p, (j, _) in best.items():
        assert by_pivot[sents["eng"].texts[p]] == sents["deu"].texts[j]
    assert res.meta["groups"]["complete"] == sum(r["deu"] is not None and r["swh"] is not None for r in rows)


def test_near_duplicate_groups_keep_the_best_one():
    from polyalign.mine.groups import join_through_pivot

    pivot = ["I saw 3 cats.", "I saw 4 cats!", "Something else"]
    joined = join_through_pivot(
        "eng", pivot, {"deu": [(0, 0, 1.2), (1, 1, 1.5), (2, 2, 1.1)]}, {"deu": ["a", "b", "c"]}
    )
    assert [r["eng"] for r in joined.rows] == ["I saw 4 cats!", "Something else"]
    assert joined.removed["near_duplicate"] == 1
    assert near_duplicate_key("I saw 3 cats.") == near_duplicate_key("i SAW 4 cats!")


def test_cleaning_and_pair_filters_are_counted():
    table, texts, gold = make_world(langs=("deu",), n_planted=10, n_distract=40, seed=6)
    extra = {
        "eng": ["", "  ", texts["eng"][0], "Ein Haus", "x" * 300],
        "deu": ["Привет мир как дела", texts["deu"][0] + "  ", "Ein Haus", "x"],
    }
    rng = np.random.default_rng(7)
    table["Ein Haus"] = 5 * rng.normal(size=32)
    table["x"] = table["x" * 300] = 5 * rng.normal(size=32)
    table["Привет мир как дела"] = rng.normal(size=32)
    sents = {lang: prepare_sentences(lang, texts[lang] + extra[lang]) for lang in texts}
    assert dict(sents["eng"].counts) == {
        "lines": 55,
        "empty": 2,
        "duplicate": 1,
        "script": 0,
        "sentences": 52,
    }
    assert sents["deu"].counts["script"] == 1 and sents["deu"].counts["duplicate"] == 1
    res = mine_texts(FixedModel(table), sents["eng"], [sents["deu"]], _cfg(threshold=0.0))
    pairs = res.meta["languages"]["deu"]["pairs"]
    # "Ein Haus" = "Ein Haus" (identical), "x" vs 300 x's (length ratio) share one vector: both found, both dropped.
    assert pairs["identical"] == 1 and pairs["length_ratio"] == 1
    kept = {(a, b) for a, b, _ in res.pair_texts("deu")}
    assert ("Ein Haus", "Ein Haus") not in kept and ("x" * 300, "x") not in kept


def test_script_check():
    assert wrong_script("Привет, как дела? OK", "Latn")
    assert not wrong_script("Hallo Welt, 2024!", "Latn")
    assert not wrong_script("1234 !!", "Latn")  # nothing to judge
    assert not wrong_script("北京是中国的首都 Beijing", "Hani")
    assert wrong_script("Hello world", "Hani")
    assert not wrong_script("anything", None)


# ------------------------------------------------------------------------------------------------
# Embedding shards, resume


def test_shards_read_as_one_array():
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(n, 4)).astype(np.float16) for n in (3, 5, 2)]
    emb = ShardedEmbeddings(parts)
    full = np.concatenate(parts).astype(np.float32)
    assert emb.shape == (10, 4)
    for sl in (slice(0, 10), slice(2, 7), slice(3, 8), slice(9, 20), slice(5, 5)):
        np.testing.assert_array_equal(emb[sl], full[sl])


def test_resume_after_a_kill_reencodes_only_missing_shards(tmp_path):
    table, texts, _ = make_world(langs=("deu",), n_planted=5, n_distract=45)
    lines = texts["deu"]  # 50 sentences, 5 shards of 10
    model = FixedModel(table, fail_after=20)
    with pytest.raises(KeyboardInterrupt):
        embed_sentences(model, lines, tmp_path, shard_size=10, show_progress=False)
    assert len(list(tmp_path.rglob("*.npy"))) == 2 and not list(tmp_path.rglob(".*tmp*"))
    model = FixedModel(table)
    emb = embed_sentences(model, lines, tmp_path, shard_size=10, show_progress=False)
    assert sorted(model.encoded) == sorted(lines[20:])  # the two finished shards were not encoded again
    assert emb.shape == (50, 32) and all(
        isinstance(s, np.memmap) and s.dtype == np.float16 for s in emb.shards
    )
    ref = np.stack([table[t] for t in lines])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(emb[0:50], ref, atol=2e-3)
    model = FixedModel(table)
    embed_sentences(model, lines, tmp_path, shard_size=10, show_progress=False)
    assert model.encoded == []


def test_a_damaged_shard_is_encoded_again(tmp_path):
    table, texts, _ = make_world(langs=("deu",), n_planted=5, n_distract=15)
    embed_sentences(FixedModel(table), texts["deu"], tmp_path, shard_size=10, show_progress=False)
    shard = sorted(tmp_path.rglob("*.npy"))[0]
    shard.write_bytes(shard.read_bytes()[:100])
    model = FixedModel(table)
    embed_sentences(model, texts["deu"], tmp_path, shard_size=10, show_progress=False)
    assert len(model.encoded) == 10


# ------------------------------------------------------------------------------------------------
# Search backends


def test_sharded_queries_give_the_same_neighbours_as_arrays(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 8)).astype(np.float32), rng.normal(size=(30, 8)).astype(np.float32)
    ref = score.knn(x, y, 4)
    monkeypatch.setattr(score, "BLOCK_ELEMENTS", 7 * 30)  # 7 query rows per chunk, across shards
    got = score.knn(ShardedEmbeddings([x[:13], x[13:31], x[31:]]), y, 4)
    assert torch.equal(ref[1], got[1])
    torch.testing.assert_close(ref[0], got[0])


def test_auto_backend_goes_approximate_only_above_the_threshold(monkeypatch):
    monkeypatch.setattr(score, "faiss_available", lambda: True)
    assert score.choose_backend("auto", 10, 100, approx_above=100) == score.APPROX_BACKEND == "faiss-hnsw"
    assert score.choose_backend("auto", 10, 99, approx_above=100) == "torch"  # small: torch's dense chunks
    assert score.choose_backend("auto", 10**4, 10**6, approx_above=None) == "faiss"  # exact without it
    monkeypatch.setattr(score, "faiss_available", lambda: False)
    assert score.choose_backend("auto", 10, 10**7, approx_above=100) == "torch"
    with pytest.raises(ConfigError, match="faiss"):
        score.choose_backend("faiss-ivf", 10, 10)


def test_faiss_exact_mines_what_torch_mines(world):
    """The whole pipeline (float16 shards, both directions, margins, strategy, threshold) gives the same
    pairs and scores with faiss's exact index as with torch's chunked search."""
    pytest.importorskip("faiss")
    paths, model, tmp = world
    out = {}
    for backend in ("torch", "faiss"):
        assert (
            main(
                _args(paths, tmp / backend, "--backend", backend, "--threshold", "1.0", "--shard-size", "37")
            )
            == 0
        )
        meta = json.loads((tmp / backend / "mine.json").read_text())
        assert {m["search_backend"] for m in meta["languages"].values()} == {backend}
        out[backend] = {
            lang: [
                line.split("\t")
                for line in (tmp / backend / "pairs" / f"eng-{lang}.tsv").read_text().splitlines()
            ]
            for lang in ("deu", "swh")
        }
    for lang in ("deu", "swh"):
        a, b = out["torch"][lang], out["faiss"][lang]
        assert len(a) > 20 and [r[:2] for r in a] == [r[:2] for r in b]
        np.testing.assert_allclose([float(r[2]) for r in a], [float(r[2]) for r in b], atol=2e-6)


def test_approximate_search_finds_most_exact_neighbours():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(20, 16))
    y = (centres[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 16))).astype(np.float32)
    x = y[:300] + 0.05 * rng.normal(size=(300, 16)).astype(np.float32)
    _, exact = score.knn(x, y, 4, backend="faiss")
    for backend in ("faiss-ivf", "faiss-hnsw"):
        _, approx = score.knn(x, y, 4, backend=backend, nprobe=8, ef_search=64)
        recall = np.mean([len(set(a) & set(b)) / 4 for a, b in zip(exact.tolist(), approx.tolist())])
        assert recall > 0.9, backend


# ------------------------------------------------------------------------------------------------
# BUCC keeps its numbers (one implementation)


def test_bucc_gives_the_numbers_it_gave_before_mining_moved():
    """Figures recorded with polyalign's bitext.mine before it moved to polyalign.mine.score, updated
    when the threshold became bucc_optimize's midpoint: XTREME's own utils_retrieve (mine_bitext,
    bucc_eval; see tests/fixtures/bucc_reference) gives the same on this case (max strategy):
    P 98.2456, R 93.3333, threshold 1.21355539560318, 57 pairs."""

    def case(seed, n_pairs=60, n_src_extra=40, n_tgt_extra=30, d=16, noise=0.6):
        rng = np.random.default_rng(seed)
        base = rng.normal(size=(n_pairs, d))
        src = np.concatenate([base, rng.normal(size=(n_src_extra, d))])
        tgt = np.concatenate([base + noise * rng.normal(size=base.shape), rng.normal(size=(n_tgt_extra, d))])
        s_ids = [f"s{seed}-{i}" for i in range(len(src))]
        t_ids = [f"t{seed}-{i}" for i in range(len(tgt))]
        return (
            src.astype(np.float32),
            tgt.astype(np.float32),
            s_ids,
            t_ids,
            {(s_ids[i], t_ids[i]) for i in range(n_pairs)},
        )

    table, splits = {}, {}
    for name, seed in (("dev", 11), ("test", 12)):
        src, tgt, s, t, gold = case(seed)
        table.update(zip(s, src))
        table.update(zip(t, tgt))
        splits[name] = bitext.BuccSplit(s, s, t, t, gold, name)
    model = FixedModel(table)
    model.encode = lambda texts, key=None: np.stack([table[x] for x in texts])
    for strategy in ("max", "intersect"):
        res = bitext.bucc_evaluate(model, splits["dev"], splits["test"], strategy=strategy)
        assert res["precision"] == pytest.approx(98.24561403508771)
        assert res["recall"] == pytest.approx(93.33333333333333)
        assert res["f1"] == pytest.approx(95.72649572649571)
        assert res["threshold"] == pytest.approx(1.21355539560318, abs=1e-6)
        assert res["n_predicted"] == 57
    src, tgt, *_ = case(12)
    top = [(p.src, p.tgt, round(p.score, 6)) for p in bitext.mine(src, tgt)][:3]
    assert top == [(58, 58, 1.742651), (28, 28, 1.583979), (7, 7, 1.563975)]
    assert len(bitext.mine(src, tgt)) == 76 and len(bitext.mine(src, tgt, strategy="intersect")) == 70
    assert bitext.mine is score.mine and bitext.best_threshold is score.best_threshold


# ------------------------------------------------------------------------------------------------
# Files, CLI, outputs


@pytest.fixture
def world(tmp_path, monkeypatch):
    table, texts, gold = make_world(n_planted=20, n_distract=80)
    (tmp_path / "in").mkdir()
    paths = write_world(tmp_path / "in", texts, gold)
    model = FixedModel(table)
    monkeypatch.setattr("polyalign.mine.pipeline._load_model", lambda name, **kw: model)
    return paths, model, tmp_path


def _args(paths, out, *extra):
    return [
        "mine",
        "--model",
        "fixed",
        "--pivot",
        f"eng:{paths['eng']}",
        "--lang",
        f"deu:{paths['deu']}",
        "--lang",
        f"swh:{paths['swh']}",
        "--out",
        str(out),
        "--no-cache",
        *extra,
    ]


def test_cli_writes_pairs_groups_and_metadata(world, capsys):
    from polyalign.data.build import load_corpus, load_meta
    from polyalign.io import output_kind

    paths, _, tmp = world
    out = tmp / "mined"
    args = _args(
        paths, out, "--dev-gold", f"deu:{paths['gold-deu']}", "--dev-gold", f"swh:{paths['gold-swh']}"
    )
    assert main(args) == 0
    assert "20 groups (20 with every language)" in capsys.readouterr().out
    assert output_kind(out) == "mine" and output_kind(out / "corpus") == "corpus"
    rows = [line.split("\t") for line in (out / "pairs" / "eng-deu.tsv").read_text().splitlines()]
    assert len(rows) == 20 and all(a.split()[-1] == b.split()[-1] for a, b, _ in rows)
    scores = [float(s) for _, _, s in rows]
    assert scores == sorted(scores, reverse=True)
    corpus = load_corpus(out / "corpus")
    assert set(corpus) >= {"groups", "pairs", "en_x"} and len(corpus["groups"]) == 20
    meta = json.loads((out / "mine.json").read_text())
    assert meta["languages"]["deu"]["threshold_source"] == "dev"
    assert meta["languages"]["deu"]["sentences"]["sentences"] == 100
    removed = load_meta(out / "corpus")["filters"]["removed"]
    assert {"duplicate:deu", "script:deu", "identical:deu", "length_ratio:deu", "below_threshold:deu"} <= set(
        removed
    )
    # A second run into the same folder needs --overwrite.
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_dev_gold_that_matches_no_candidate_is_refused(world, capsys):
    # BUCC's bucc_optimize would fall back to threshold 0 and keep every candidate; mining refuses
    # instead (found when the BUCC threshold was aligned with XTREME's), and writes nothing.
    paths, _, tmp = world
    pairs = [line.split("\t") for line in paths["gold-deu"].read_text().splitlines()]
    shifted = [(a, pairs[(i + 1) % len(pairs)][1]) for i, (a, _) in enumerate(pairs)]
    bad = tmp / "gold-deu-shifted.tsv"
    bad.write_text("".join(f"{a}\t{b}\n" for a, b in shifted), encoding="utf-8")
    out = tmp / "mined"
    assert main(_args(paths, out, "--dev-gold", f"deu:{bad}")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dev-gold deu: none of its 20 pairs is among the" in err[0]
    assert not out.exists()


def test_mined_corpus_trains(world, tmp_path):
    from _train_fixtures import save_tiny

    paths, _, tmp = world
    out = tmp / "mined"
    assert main(_args(paths, out, "--threshold", "1.2")) == 0
    tiny = save_tiny(tmp_path / "tiny")
    args = ["train", "--model", str(tiny), "--data", str(out / "corpus"), "--out", str(tmp_path / "run")]
    assert main([*args, "--steps", "1", "--batch-groups", "4", "--max-seq-length", "16"]) == 0
    assert (tmp_path / "run" / "modules.json").is_file()


def test_cache_makes_a_second_run_encode_nothing(world):
    paths, model, tmp = world
    cfg = _cfg(use_cache=True, cache_dir=str(tmp / "cache"), shard_size=32)
    mine_files(model, ("eng", paths["eng"]), [("deu", paths["deu"])], tmp / "a", config=cfg)
    n = len(model.encoded)
    assert n == 200
    mine_files(model, ("eng", paths["eng"]), [("deu", paths["deu"])], tmp / "b", config=cfg)
    assert len(model.encoded) == n


def test_gold_file_errors_name_the_line(tmp_path):
    piv = prepare_sentences("eng", ["a b", "c d", "e f"], tmp_path / "en.txt")
    deu = prepare_sentences("deu", ["g h", "", "i j"], tmp_path / "de.txt")
    gold = tmp_path / "gold.tsv"
    gold.write_text("1\t1\n3\t9\n")
    with pytest.raises(DataError, match=r"gold.tsv:2: deu line 9 is not in .*de.txt \(3 lines\)"):
        read_gold(gold, piv, deu)
    gold.write_text("1\tone\n")
    with pytest.raises(DataError, match=r"gold.tsv:1: expected pivot_line<TAB>lang_line"):
        read_gold(gold, piv, deu)
    gold.write_text("1\t1\n2\t2\n")  # line 2 of de.txt is empty: left out, counted
    assert read_gold(gold, piv, deu) == ({(0, 0)}, 1)


def test_api_checks_languages():
    with pytest.raises(ConfigError, match="given twice"):
        mine_files("m", "eng:a", ["deu:b", "deu_Latn:c"], "out")
    with pytest.raises(ConfigError, match="given twice"):
        mine_files("m", "eng:a", ["en:b"], "out")
    with pytest.raises(ConfigError, match="--pivot"):
        mine_files("m", None, ["deu:b"], "out")
    with pytest.raises(ConfigError, match="LANG:FILE"):
        mine_files("m", "eng", ["deu:b"], "out")
    mine_texts_cfg = MineConfig(strategy="best")
    with pytest.raises(ConfigError, match="strategy"):
        mine_texts_cfg.validate()


def test_cli_defaults_are_the_library_defaults():
    from polyalign.mine import cli, embed, filters, pipeline

    assert cli.DEFAULT_THRESHOLD == pipeline.DEFAULT_THRESHOLD
    assert cli.APPROX_ABOVE == score.APPROX_ABOVE
    assert cli.DEFAULT_SHARD_SIZE == embed.DEFAULT_SHARD_SIZE
    assert cli.DEFAULT_MAX_LENGTH_RATIO == filters.DEFAULT_MAX_LENGTH_RATIO
