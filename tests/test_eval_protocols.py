"""Protocol choices that make numbers comparable: the token limit a model is saved and evaluated at,
refusing comparisons across limits, XTREME's Tatoeba direction, the renamed SemEval STS17 task and
the user's own multi-way test set (``bitext-dir``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyalign import report
from polyalign.cli import main
from polyalign.errors import ConfigError, DataError, UnknownLanguageError
from polyalign.eval.runner import evaluate
from polyalign.eval.tasks import parse_task

# ------------------------------------------------------------------------------------------------
# Token limits


def test_evaluate_records_and_sets_the_token_limit(tiny_encoder, data_dir):
    before = tiny_encoder.max_seq_length
    try:
        rows = evaluate(tiny_encoder, tasks=["tatoeba:deu@20"], data_dir=data_dir, use_cache=False)
        assert {r["max_seq_length"] for r in rows} == {before}
        rows = evaluate(
            tiny_encoder, tasks=["tatoeba:deu@20"], data_dir=data_dir, use_cache=False, max_seq_length=8
        )
        assert {r["max_seq_length"] for r in rows} == {8} and tiny_encoder.max_seq_length == 8
    finally:
        tiny_encoder.max_seq_length = before
    with pytest.raises(ConfigError, match="no token limit"):
        evaluate(lambda t: np.ones((len(t), 4)), tasks=["tatoeba:deu@5"], data_dir=data_dir, max_seq_length=8)


def _rows(label: str, value: float, length) -> list[dict]:
    row = {"task": "tatoeba", "subset": "deu-eng", "metric": "accuracy", "value": value, "model": label}
    return [{**row, "max_seq_length": length}, {**row, "subset": "fra-eng", "max_seq_length": length}]


def test_report_refuses_comparisons_across_token_limits():
    base = report.scores_by_label([_rows("base", 90.0, 512)], "base")
    short = report.scores_by_label([_rows("run", 91.0, 64)], "run")
    same = report.scores_by_label([_rows("run", 91.0, 512)], "run")
    with pytest.raises(DataError, match="different max_seq_length"):
        report.compare(base, [short])
    assert report.compare(base, [same])[0]["length_warning"] is None
    flagged = report.compare(base, [short], allow_mixed_lengths=True)
    assert "WARNING: mixed max_seq_length" in report.deltas_table(flagged)
    legacy = report.scores_by_label([_rows("old", 91.0, None)], "old")
    assert "not recorded" in report.check_lengths([base, legacy])
    assert report.compare(base, [legacy])[0]["length_warning"] is None  # a note in the log only


def test_report_cli_refuses_mixed_lengths(tmp_path, capsys):
    for label, length in (("base", 512), ("run", 64)):
        (tmp_path / f"{label}.jsonl").write_text("\n".join(json.dumps(r) for r in _rows(label, 90, length)))
    argv = [
        "report",
        "compare",
        "--base",
        str(tmp_path / "base.jsonl"),
        "--runs",
        f"run={tmp_path / 'run.jsonl'}",
    ]
    assert main(argv) == 1
    assert "different max_seq_length" in capsys.readouterr().err
    assert main([*argv, "--allow-mixed-lengths"]) == 0
    assert "WARNING: mixed max_seq_length" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------
# Names and directions


def test_sts17_is_named_for_what_it_is():
    with pytest.raises(ConfigError, match="not MTEB's 11-subset STS17"):
        parse_task("sts17")
    assert parse_task("sts17-semeval:en-en").name == "sts17-semeval"


class Lookup:
    """A deterministic 'model': each text's embedding is looked up, so retrieval outcomes are set by hand."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table

    def encode(self, texts):
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def _write_dir(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return folder


def test_bitext_dir_scores_each_language_against_the_pivot(tmp_path):
    # deu: line 2 is closer to English line 1 than line 1 is, so deu->eng makes 1 error in 3 and
    # eng->deu none; fra is perfect. Directions must not be mixed up.
    table = {
        "e1": [1, 0, 0],
        "e2": [0, 1, 0],
        "e3": [0, 0, 1],
        "d1": [0.9, 0.1, 0],
        "d2": [0.95, 0.3, 0.1],
        "d3": [0, 0.1, 1],
        "f1": [1, 0, 0.05],
        "f2": [0, 1, 0.05],
        "f3": [0.05, 0, 1],
    }
    folder = _write_dir(
        tmp_path / "set",
        {"eng.txt": "e1\ne2\ne3\n", "deu.txt": "d1\nd2\nd3\n", "fra_Latn.txt": "f1\nf2\nf3\n"},
    )
    rows = evaluate(Lookup(table), tasks=[f"bitext-dir:{folder}"], pairs=[("deu", "fra")], use_cache=False)
    by = {(r["subset"], r["metric"]): r["value"] for r in rows}
    assert by[("deu-eng", "accuracy")] == by[("deu-eng", "accuracy_src2tgt")] == pytest.approx(200 / 3)
    assert by[("deu-eng", "accuracy_tgt2src")] == 100.0
    assert by[("fra_Latn-eng", "accuracy")] == 100.0
    assert ("deu-fra_Latn", "accuracy") in by and ("deu-eng", "xsim_error_tgt2src") in by
    assert by[("deu-eng", "xsim_error")] == by[("deu-eng", "xsim_error_src2tgt")]
    assert {r["task"] for r in rows} == {"bitext-dir"}


@pytest.mark.parametrize(
    "files, pivot, error, message",
    [
        ({"eng.txt": "a\nb\n", "deu.txt": "x\n"}, "eng", DataError, "not line-aligned"),
        ({"eng.txt": "a\n", "deu.txt": ""}, "eng", DataError, "empty file"),
        ({"eng.txt": "a\nb\n", "deu.txt": "x\n\n"}, "eng", DataError, "empty line"),
        ({"eng.txt": "a\n", "deu.txt": b"\xff\xfe\n"}, "eng", DataError, "invalid UTF-8"),
        ({"deu.txt": "a\n", "fra.txt": "b\n"}, "eng", UnknownLanguageError, "eng"),
        ({"eng.txt": "a\n", "de.txt": "b\n", "deu.txt": "c\n"}, "eng", DataError, "two files for language"),
        ({"eng.txt": "a\n"}, "eng", DataError, "at least 2 languages"),
    ],
)
def test_bitext_dir_bad_input_is_one_line_error(tmp_path, files, pivot, error, message):
    folder = _write_dir(tmp_path / "set", files)
    calls = []

    def model(texts):
        calls.append(texts)
        return np.ones((len(texts), 3))

    with pytest.raises(error, match=message) as info:
        evaluate(model, tasks=[f"bitext-dir:{folder}"], pivot=pivot, use_cache=False)
    assert "\n" not in str(info.value) and not calls  # checked before anything is encoded


def test_bitext_dir_cli(tmp_path, tiny_encoder, monkeypatch):
    import polyalign.models

    monkeypatch.setattr(polyalign.models, "load_encoder", lambda *a, **k: tiny_encoder)
    folder = _write_dir(
        tmp_path / "set", {"eng.txt": "a cat\nthe sea\n", "deu.txt": "eine Katze\ndas Meer\n"}
    )
    out = tmp_path / "res"
    args = ["eval", "--model", "m", "--tasks", f"bitext-dir:{folder}", "--pivot", "en", "--out", str(out)]
    assert main([*args, "--no-cache", "--quiet"]) == 0
    rows = [json.loads(x) for x in (out / "m.jsonl").read_text().splitlines()]
    assert {r["subset"] for r in rows} == {"deu-eng"}
    assert main([*args, "--pairs", "deu"]) == 1  # not SRC-TGT


# ------------------------------------------------------------------------------------------------
# A trained model keeps the backbone's token limit


@pytest.mark.parametrize("inference_length, expected", [(None, 64), (48, 48)])
def test_trained_model_keeps_the_backbone_token_limit(tmp_path, inference_length, expected):
    from sentence_transformers import SentenceTransformer

    from _train_fixtures import make_corpus, save_tiny
    from polyalign.train import TrainConfig, train

    tiny = save_tiny(tmp_path / "tiny")  # the backbone's limit is 64 tokens
    assert SentenceTransformer(str(tiny), device="cpu").max_seq_length == 64
    cfg = TrainConfig(
        model=str(tiny),
        data=str(make_corpus(tmp_path / "corpus", n_groups=16)),
        out=str(tmp_path / "run"),
        batch_groups=4,
        steps=2,
        chunk_size=8,
        max_seq_length=16,  # the training cap: training batches only
        inference_max_seq_length=inference_length,
    )
    train(cfg)
    saved = SentenceTransformer(str(tmp_path / "run"), device="cpu")
    assert saved.max_seq_length == expected
    card = (tmp_path / "run" / "README.md").read_text(encoding="utf-8")
    assert f"Maximum Sequence Length:** {expected} tokens" in card
    assert "truncated at 16 tokens" in card and f"up to {expected} tokens at inference" in card
