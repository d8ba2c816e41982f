"""The benchmark scripts' own logic: bench/bench_train.py --freeze-embeddings and bench/gpu/'s merger."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from _train_fixtures import make_corpus, save_tiny, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def _load(rel: str):
    path = ROOT / rel
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_st_side_freezes_what_the_trainer_freezes(tmp_path):
    """A fair --freeze-embeddings: ST trains exactly the parameters polyalign's Trainer trains (the
    transformers pooler aside, which ST's mean pooling never uses, so it gets no gradient)."""
    from sentence_transformers import SentenceTransformer

    from polyalign.train.trainer import Trainer

    bench = _load("bench/bench_train.py")
    tiny = save_tiny(tmp_path)
    corpus = make_corpus(tmp_path / "corpus", n_groups=12)
    trainer = Trainer(tiny_config(tiny, corpus, tmp_path / "run", freeze_embeddings=True))
    ours = {n for n, p in trainer.model.named_parameters() if p.requires_grad}

    st = SentenceTransformer(str(tiny), device="cpu")
    frozen = bench.freeze_word_embeddings(st)
    theirs = {n for n, p in st.named_parameters() if p.requires_grad and ".pooler." not in n}
    assert theirs == ours
    assert frozen == st[0].auto_model.embeddings.word_embeddings.weight.numel()
    assert not any("word_embeddings" in n for n in theirs)


def test_freeze_embeddings_reaches_both_workers(monkeypatch, tmp_path):
    bench = _load("bench/bench_train.py")
    seen = []

    def fake_run(cmd, **kw):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="boom")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    for flag in (["--freeze-embeddings"], []):
        args = bench.parse_args(flag)
        for fw in ("st", "polyalign"):
            bench._spawn(fw, "fixed", tmp_path / "m", tmp_path / "c", args)
    assert ["--freeze-embeddings" in cmd for cmd in seen] == [True, True, False, False]
    assert bench.parse_args(["--freeze-embeddings"]).freeze_embeddings is True


def test_merge_results_records_every_stage(tmp_path):
    """One JSON per GPU run: present parts verbatim (with their command), a missing part as an error."""
    (tmp_path / "train.json").write_text(json.dumps({"results": [{"ratio": 1.5}]}))
    out = tmp_path / "results" / "x.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench/gpu/merge_results.py"),
            str(out),
            "--command",
            "bench/gpu/run.sh",
            "--part",
            f"train={tmp_path / 'train.json'}=python bench/bench_train.py --groups 128",
            "--part",
            f"eval={tmp_path / 'eval.json'}=python bench/bench_eval.py",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr  # one stage missing
    report = json.loads(out.read_text())
    assert report["command"] == "bench/gpu/run.sh"
    assert report["torch"] and report["device_name"]
    assert report["parts"]["train"]["results"] == [{"ratio": 1.5}]
    assert report["parts"]["train"]["command"] == "python bench/bench_train.py --groups 128"
    assert "missing" in report["parts"]["eval"]["error"]


@pytest.mark.parametrize("flag", ["--bogus"])
def test_run_sh_rejects_unknown_flags(flag):
    proc = subprocess.run(["bash", str(ROOT / "bench/gpu/run.sh"), flag], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--dry-run" in proc.stderr
