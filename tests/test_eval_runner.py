"""Readers on real data, task planning, the runner end to end with the tiny encoder, the CLI, the dev
evaluators and the MTEB adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest

import polyalign.models
from polyalign.cli import main
from polyalign.errors import ConfigError, DataError, UnknownLanguageError
from polyalign.eval import classification, sts
from polyalign.eval.encode import Encoder
from polyalign.eval.mteb_adapter import MtebEncoder
from polyalign.eval.runner import evaluate, make_dev_evaluator, row_seen
from polyalign.eval.tasks import SUITES, EvalContext, parse_task, plan

ROW_KEYS = {"model", "task", "subset", "metric", "value", "seen", "prompt", "suite", "date", "langs"}


# ------------------------------------------------------------------------------------------------
# Readers


def test_sts17_reader(data_dir):
    d = sts.read_sts17(data_dir, "ar-en")
    assert len(d.s1) == len(d.s2) == len(d.scores) == 250 and d.langs == ("ar", "en")
    assert 0 <= d.scores.min() and d.scores.max() <= 5
    assert sts.read_sts17(data_dir, "es-en-4b").s1 != sts.read_sts17(data_dir, "es-en").s1
    with pytest.raises(DataError, match="tr-en is unusable"):
        sts.read_sts17(data_dir, "tr-en")
    with pytest.raises(UnknownLanguageError):
        sts.read_sts17(data_dir, "xx-yy")


def test_stsb_crosslingual_reader(data_dir):
    d = sts.read_stsb_crosslingual(data_dir, "en", "de")
    en, de = sts.read_stsb(data_dir, "en"), sts.read_stsb(data_dir, "de")
    assert d.s1 == en.s1 and d.s2 == de.s2 and len(d.s1) == 1379
    assert any('"' in s for s in en.s1 + en.s2)  # CSV quoting was undone


def test_stsb_crosslingual_refuses_different_scores(tmp_path):
    folder = tmp_path / "stsb_multi_mt"
    folder.mkdir()
    (folder / "stsb-en-test.csv").write_text('A man.,"A man, walking.",1.0\nA dog.,A cat.,2.0\n')
    (folder / "stsb-de-test.csv").write_text("Ein Mann.,Ein Mann geht.,1.0\nEin Hund.,Eine Katze.,3.0\n")
    assert sts.read_stsb(tmp_path, "en").s2[0] == "A man, walking."
    with pytest.raises(DataError, match="not aligned"):
        sts.read_stsb_crosslingual(tmp_path, "en", "de")


def test_sts_file_reader(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("id\tsentence1\tsentence2\tscore\n1\ta\tb\t0.5\n2\tc\td\t4\n")
    d = sts.read_sts_file(p)
    assert d.s1 == ["a", "c"] and d.s2 == ["b", "d"] and list(d.scores) == [0.5, 4.0]
    p2 = tmp_path / "noheader.csv"
    p2.write_text("a,b,1\nc,d,2\n")
    assert sts.read_sts_file(p2).s2 == ["b", "d"]
    p3 = tmp_path / "bad.tsv"
    p3.write_text("a\tb\t1\nc\td\tx\n")
    with pytest.raises(DataError, match="bad.tsv:2"):
        sts.read_sts_file(p3)
    with pytest.raises(DataError, match="not found"):
        sts.read_sts_file(tmp_path / "missing.tsv")


def test_sib200_and_classification_file_readers(data_dir, tmp_path):
    d = classification.read_sib200(data_dir, "de", "train")
    assert len(d.texts) == 701 and len(set(d.labels)) == 7
    assert any('"' in t for t in classification.read_sib200(data_dir, "eng", "train").texts)
    p = tmp_path / "cls.tsv"
    p.write_text("label\ttext\npos\tgood\nneg\tbad\n")
    c = classification.read_classification_file(p)
    assert c.texts == ["good", "bad"] and c.labels == ["pos", "neg"]


# ------------------------------------------------------------------------------------------------
# Planning


def _ctx(data_dir):
    return EvalContext(encoder=None, data_dir=data_dir)


def test_every_suite_resolves_on_real_data(data_dir):
    for suite in SUITES:
        planned = plan(_ctx(data_dir), suite=suite)
        assert planned and all(p.items for p in planned)
    full = {p.task.name: p for p in plan(_ctx(data_dir), suite="full")}
    assert len(full["tatoeba"].items) == 112 and len(full["flores-xsim"].items) == 203


def test_langs_select_and_filter(data_dir):
    bare = plan(_ctx(data_dir), tasks=["tatoeba", "sts17-semeval", "flores-xsim"], langs=["de", "es"])
    items = {p.task.name: p.items for p in bare}
    assert items["tatoeba"] == ["deu", "spa"]
    assert items["sts17-semeval"] == ["es-es", "es-en", "en-en"]
    assert items["flores-xsim"] == [("deu_Latn", "eng_Latn"), ("spa_Latn", "eng_Latn")]
    quick = {p.task.name: p.items for p in plan(_ctx(data_dir), suite="quick", langs=["de", "zh"])}
    assert quick["tatoeba"] == ["deu", "cmn"]
    assert quick["stsb-x"] == [("en", "de"), ("en", "zh")]
    explicit = plan(_ctx(data_dir), tasks=["tatoeba:fra"], langs=["de"])
    assert explicit[0].items == ["fra"]  # an explicit argument wins over --langs


def test_unknown_task_language_and_bad_specs(data_dir):
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        plan(_ctx(data_dir), tasks=["nope"])
    with pytest.raises(UnknownLanguageError, match="'xyz'"):
        plan(_ctx(data_dir), tasks=["tatoeba:xyz"])
    with pytest.raises(UnknownLanguageError, match="'klingon'"):
        plan(_ctx(data_dir), tasks=["tatoeba"], langs=["klingon"])
    with pytest.raises(ConfigError, match="unknown suite"):
        plan(_ctx(data_dir), suite="huge")
    with pytest.raises(ConfigError, match="two different languages"):
        plan(_ctx(data_dir), tasks=["flores-xsim:deu-deu"])
    with pytest.raises(DataError, match="not found"):
        plan(_ctx(data_dir), tasks=["sts-file:/no/such/file.tsv"])
    assert parse_task("tatoeba:deu,fra@20").limit == 20
    assert parse_task("tatoeba14").parse_items("tatoeba14", _ctx(data_dir))[0] == "ara"


def test_misaligned_tatoeba_is_an_error(tmp_path):
    folder = tmp_path / "tatoeba"
    folder.mkdir()
    (folder / "tatoeba.deu-eng.deu").write_text("a\nb\nc\n")
    (folder / "tatoeba.deu-eng.eng").write_text("a\nb\n")

    class Fake:
        def encode(self, texts):
            return np.ones((len(texts), 4), dtype=np.float32)

    with pytest.raises(DataError, match="not line-aligned"):
        evaluate(Fake(), tasks=["tatoeba:deu"], data_dir=tmp_path, use_cache=False)
    (folder / "tatoeba.deu-eng.deu").write_text("")
    (folder / "tatoeba.deu-eng.eng").write_text("")
    with pytest.raises(DataError, match="empty"):
        evaluate(Fake(), tasks=["tatoeba:deu"], data_dir=tmp_path, use_cache=False)
    (folder / "tatoeba.deu-eng.deu").unlink()
    with pytest.raises(DataError, match="tatoeba.deu-eng.deu: file not found"):
        evaluate(Fake(), tasks=["tatoeba:deu"], data_dir=tmp_path, use_cache=False)


@pytest.mark.parametrize(
    "task, error, message",
    [
        ("sts-file", ConfigError, "sts-file needs PATH"),
        ("cls-file:only-one", ConfigError, "needs TRAIN,TEST paths"),
        ("bucc", ConfigError, "bucc needs DIR"),
        ("sts-file:{tmp}/missing.tsv", DataError, "missing.tsv: file not found"),
        ("cls-file:{tmp}/train.tsv,{tmp}/missing.tsv", DataError, "missing.tsv: file not found"),
        ("bucc:{tmp}/no-such-folder", DataError, "no-such-folder: folder not found"),
    ],
)
def test_file_tasks_name_what_is_missing(tmp_path, task, error, message):
    (tmp_path / "train.tsv").write_text("text\tlabel\na\tx\n")
    with pytest.raises(error, match=message):
        evaluate(lambda texts: np.ones((len(texts), 4)), tasks=[task.format(tmp=tmp_path)], use_cache=False)


def test_row_seen():
    assert row_seen(["deu", "eng"], ["de", "en"]) is True
    assert row_seen(["deu_Latn", "eng_Latn"], ["de"]) is False  # a pair is seen only if both sides are
    assert row_seen(["deu", "eng"], None) is None


# ------------------------------------------------------------------------------------------------
# Runner end to end


SMALL_TASKS = [
    "tatoeba:deu,fra@30",
    "flores-xsim:deu,deu-fra@30",
    "sts17-semeval:en-en@30",
    "stsb-x:de@30",
    "sib200-x:deu@30",
    "sib200:fra@30",
]


def test_evaluate_end_to_end(tiny_encoder, data_dir, tmp_path):
    rows = evaluate(
        tiny_encoder,
        tasks=SMALL_TASKS,
        data_dir=data_dir,
        seen_langs=["en", "de"],
        out=tmp_path / "res",
        cache_dir=tmp_path / "cache",
        model_name="tiny",
        n_experiments=2,
    )
    assert rows and all(ROW_KEYS <= set(r) for r in rows)
    by = {(r["task"], r["subset"], r["metric"]): r for r in rows}
    assert by[("tatoeba", "deu-eng", "accuracy")]["seen"] is True
    assert by[("tatoeba", "fra-eng", "accuracy")]["seen"] is False
    assert by[("flores-xsim", "deu_Latn-fra_Latn", "xsim_error")]["seen"] is False
    # XTREME's Tatoeba direction (eng -> xxx) is the headline; the mean of both is its own row.
    acc = by[("tatoeba", "deu-eng", "accuracy")]["value"]
    xx2en = by[("tatoeba", "deu-eng", "accuracy_xx2en")]["value"]
    en2xx = by[("tatoeba", "deu-eng", "accuracy_en2xx")]["value"]
    assert acc == en2xx
    assert by[("tatoeba", "deu-eng", "accuracy_mean_both")]["value"] == pytest.approx(
        (xx2en + en2xx) / 2, abs=1e-3
    )
    assert all(r["max_seq_length"] == tiny_encoder.max_seq_length for r in rows)
    assert all(0 <= r["value"] <= 100 for r in rows if r["metric"] != "spearman")
    assert {r["task"] for r in rows} == {
        "tatoeba",
        "flores-xsim",
        "sts17-semeval",
        "stsb-x",
        "sib200-x",
        "sib200",
    }
    assert by[("sib200", "fra_Latn", "accuracy")]["n"] == 30
    lines = (tmp_path / "res" / "tiny.jsonl").read_text().splitlines()
    assert len(lines) == len(rows) and json.loads(lines[0])["model"] == "tiny"
    summary = (tmp_path / "res" / "tiny.md").read_text()
    assert "| tatoeba | accuracy ↑ |" in summary and "seen" in summary and "xsim_error ↓" in summary
    # A second run reads every embedding from the disk cache and gives the same numbers.
    enc = Encoder(tiny_encoder, cache_dir=tmp_path / "cache")
    again = evaluate(
        enc, tasks=SMALL_TASKS, data_dir=data_dir, seen_langs=["en", "de"], model_name="tiny", n_experiments=2
    )
    assert enc.n_encoded == 0 and enc.cache_hits > 0
    assert [r["value"] for r in again] == [r["value"] for r in rows]


def test_cli_eval(tiny_encoder, data_dir, tmp_path, monkeypatch, capsys):
    calls = []

    def fake_load(name, pooling=None, prompt=None, device=None, **kw):
        calls.append((name, prompt))
        return tiny_encoder

    monkeypatch.setattr(polyalign.models, "load_encoder", fake_load)
    out = tmp_path / "results"
    argv = [
        "eval",
        "--model",
        "tiny-model",
        "--tasks",
        "tatoeba:deu@20",
        "sts17-semeval:en-en@20",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--no-cache",
        "--seen-langs",
        "en,de",
    ]
    assert main(argv) == 0
    assert calls == [("tiny-model", None)]
    rows = [json.loads(x) for x in (out / "tiny-model.jsonl").read_text().splitlines()]
    assert {r["task"] for r in rows} == {"tatoeba", "sts17-semeval"} and all(r["seen"] is True for r in rows)
    assert "| tatoeba |" in capsys.readouterr().out
    assert (
        main(["eval", "--model", "m", "--tasks", "nope", "--data-dir", str(data_dir), "--out", str(out)]) == 1
    )
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert (
        main(
            ["eval", "--model", "m", "--tasks", "tatoeba:xyz", "--data-dir", str(data_dir), "--out", str(out)]
        )
        == 1
    )
    assert "unknown language 'xyz'" in capsys.readouterr().err
    assert main(["eval", "--model", "m", "--out", str(out)]) == 1
    assert main(["eval", "--model", "m", "--suite", "quick", "--data-dir", str(tmp_path / "nodata")]) == 1
    assert "data folder not found" in capsys.readouterr().err


def test_dev_evaluators(tiny_encoder, data_dir):
    ev = make_dev_evaluator(data_dir, "flores-dev-xsim", ["de", "fr"], max_sentences=20)
    tiny_encoder.train()
    try:
        res = ev(tiny_encoder)
        assert tiny_encoder.training  # the evaluator hands training mode back
    finally:
        tiny_encoder.eval()
    assert set(res) == {"xsim_error/deu_Latn", "xsim_error/fra_Latn", "mean"} and ev.higher_is_better is False
    assert 0 <= res["mean"] <= 100
    tat = make_dev_evaluator(data_dir, "tatoeba", ["deu"], max_sentences=20)
    assert set(tat(tiny_encoder)) == {"accuracy/deu", "mean"}
    with pytest.raises(ConfigError):
        make_dev_evaluator(data_dir, "flores-devtest")


# ------------------------------------------------------------------------------------------------
# MTEB adapter (no mteb needed)


class RecordingModel:
    def __init__(self):
        self.seen = []

    def encode(self, texts):
        self.seen += list(texts)
        return np.arange(len(texts) * 3, dtype=np.float32).reshape(len(texts), 3) + 1


def test_mteb_adapter_encode_and_prompts():
    model = RecordingModel()
    wrapper = MtebEncoder(model, prompt="query: ", prompts={"passage": "passage: "})
    out = wrapper.encode(["a", "b"], task_name="STS17", batch_size=8)
    assert out.shape == (2, 3) and np.allclose(np.linalg.norm(out, axis=1), 1)
    assert model.seen == ["query: a", "query: b"]
    wrapper.encode([{"text": ["c"]}], prompt_type="passage")  # MTEB 2 style batches + a prompt type
    assert model.seen[-1] == "passage: c"
    wrapper.encode(["d"], prompt_type="query")
    assert model.seen[-1] == "query: d"


def test_mteb_adapter_with_sentence_transformer(tiny_encoder):
    wrapper = MtebEncoder(tiny_encoder)
    out = wrapper.encode(["hello", "world"])
    direct = tiny_encoder.encode(["hello", "world"], normalize_embeddings=True)
    np.testing.assert_allclose(out, direct, atol=1e-5)
