"""The fault matrix: one case per bad input or fault, across every command (issue 12).

Each case states what a user did wrong (or what went wrong around them) and asserts what polyalign
must do: refuse with one line naming the path, keep what it did not write, never run code from a
file, never report a number that is not what happened. New faults get a case here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from _train_fixtures import make_corpus, save_tiny, tiny_config
from polyalign.cli import main
from polyalign.config import from_dict
from polyalign.errors import ConfigError, DataError, PolyalignError
from polyalign.train import TrainConfig, TrainingError, train

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "c", n_groups=24, hard=False)


def _cfg(tiny, corpus, out, **kw) -> TrainConfig:
    return tiny_config(tiny, corpus, out, **{"max_seq_length": 16, **kw})


def _weights(path) -> dict:
    from sentence_transformers import SentenceTransformer

    return {k: v.clone() for k, v in SentenceTransformer(str(path), device="cpu").state_dict().items()}


def _same_weights(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def _error_line(capsys) -> str:
    """The CLI's stderr must be exactly one error line (no traceback); return it."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("polyalign ")]
    assert len(lines) == 1, err
    return lines[0]


def _foreign(path: Path) -> Path:
    """A user's folder: what polyalign must never delete."""
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("my notes")
    (path / "thesis.tex").write_text("\\documentclass{article}")
    return path


def _intact(path: Path) -> bool:
    return (path / "notes.txt").read_text() == "my notes" and (path / "thesis.tex").is_file()


def _bitext(tmp_path) -> Path:
    tsv = tmp_path / "en-de.tsv"
    tsv.write_text("".join(f"sentence {i}\tSatz {i}\n" for i in range(12)), encoding="utf-8")
    return tsv


def _build_args(tmp_path, out) -> list[str]:
    return ["data", "build", "bitext", "--file", f"en:de:{_bitext(tmp_path)}", "--out", str(out)]


class _FakeTranslator:
    name = "fake"
    model_id = "fake-1"
    options: dict = {}
    default_batch_size = 4

    def supported_targets(self):
        return ["de"]

    def translate(self, texts, tgt):
        return [f"[{tgt}] {t}" for t in texts]


def _synth_args(tmp_path, out, monkeypatch) -> list[str]:
    import polyalign.data.synth.cli as synth_cli

    monkeypatch.setattr(synth_cli, "make_translator", lambda args: _FakeTranslator())
    src = tmp_path / "en.txt"
    src.write_text("".join(f"Sentence number {i}.\n" for i in range(8)), encoding="utf-8")
    return ["synth", "--langs", "de", "--input", str(src), "--no-cache", "--out", str(out)]


def _study_args(tmp_path, out, corpus, tiny) -> list[str]:
    config = tmp_path / "study.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "s",
                "data": {"source": "synth", "path": str(corpus)},
                "train": {"model": str(tiny), "steps": 1, "batch_groups": 4},
                "arms": {"a": {}},
                "eval": {"tasks": ["sts-file:/no/such.tsv"]},
                "seeds": [0],
                "include_base": False,
            }
        )
    )
    return ["study", str(config), "--out", str(out), "--data-dir", str(tmp_path)]


# --- Data loss ---


@pytest.mark.parametrize("command", ["data build", "synth", "study", "demo", "train"])
def test_out_on_a_folder_polyalign_did_not_write_is_refused(
    command, tmp_path, capsys, monkeypatch, tiny, corpus
):
    out = _foreign(tmp_path / "thesis")
    # A subfolder the command writes into, to catch writers that replace only their part.
    sub = {"study": "corpus", "demo": "train_corpus"}.get(command)
    if sub:
        _foreign(out / sub)
    args = {
        "data build": lambda: _build_args(tmp_path, out),
        "synth": lambda: _synth_args(tmp_path, out, monkeypatch),
        "study": lambda: _study_args(tmp_path, out, corpus, tiny),
        "demo": lambda: ["demo", "--out", str(out), "--model", str(tiny), "--steps", "1"],
        "train": lambda: ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out)],
    }[command]()
    assert main(args) == 1
    line = _error_line(capsys)
    assert str(out) in line and "notes.txt" in line and "not written by polyalign" in line
    assert _intact(out) and (not sub or _intact(out / sub))


def test_data_build_replaces_its_own_corpus_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(_build_args(tmp_path, out)) == 0
    stamp = (out / "polyalign_corpus.json").stat().st_mtime_ns
    assert main(_build_args(tmp_path, out)) == 1
    assert "--overwrite" in _error_line(capsys)
    assert (out / "polyalign_corpus.json").stat().st_mtime_ns == stamp
    assert main([*_build_args(tmp_path, out), "--overwrite"]) == 0
    assert json.loads((out / ".polyalign-output.json").read_text())["kind"] == "corpus"


def test_overwrite_never_replaces_a_foreign_folder_or_another_kind(tmp_path, corpus, capsys):
    foreign = _foreign(tmp_path / "mine")
    assert main([*_build_args(tmp_path, foreign), "--overwrite"]) == 1
    assert _intact(foreign)
    run = tmp_path / "run"
    run.mkdir()
    (run / ".polyalign-output.json").write_text('{"kind": "train"}')
    (run / "train_log.jsonl").write_text("{}\n")
    capsys.readouterr()
    assert main([*_build_args(tmp_path, run), "--overwrite"]) == 1
    assert "holds a polyalign train output, not a corpus" in _error_line(capsys)
    assert (run / "train_log.jsonl").is_file()


def test_out_is_an_existing_file(tmp_path, capsys):
    out = tmp_path / "thesis.tex"
    out.write_text("text")
    assert main(_build_args(tmp_path, out)) == 1
    assert "is not a folder" in _error_line(capsys) and out.read_text() == "text"


def test_new_run_into_a_folder_holding_another_run_is_refused(tiny, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    train(_cfg(tiny, corpus, out, steps=4))
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    args = ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out), "--steps", "2"]
    assert main(args) == 1
    line = _error_line(capsys)
    assert "previous polyalign train output" in line and "--resume" in line and "--overwrite" in line
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before


def test_overwrite_replaces_a_run_without_mixing_checkpoints(tiny, corpus, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny, corpus, out, steps=6, save_every=2))  # checkpoints at 2, 4
    result = train(_cfg(tiny, corpus, out, steps=2, save_every=1, overwrite=True))
    assert result.steps == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000001"]
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]


def test_resume_refuses_a_checkpoint_of_a_different_run(tiny, corpus, tmp_path):
    out = tmp_path / "run"
    train(_cfg(tiny, corpus, out, steps=4), stop_after=3)  # checkpoint at step 2
    other_data = shutil.copytree(corpus, tmp_path / "other")
    changed = _cfg(tiny, other_data, out, steps=4, lr=5e-4, loss="multi-out", resume=True)
    with pytest.raises(ConfigError, match=r"step-00000002 belongs to a different run") as e:
        train(changed)
    for name in ("data", "lr", "loss"):
        assert f"{name} (run: " in str(e.value)
    assert "model (run" not in str(e.value) and "save_every" not in str(e.value)
    # Settings of how the run executes may change on resume.
    train(_cfg(tiny, corpus, out, steps=4, resume=True, chunk_size=3, log_every=2))


def test_second_eval_keeps_the_rows_of_other_tasks(tiny, tmp_path):
    from polyalign.eval import evaluate
    from polyalign.models import load_encoder

    sts = tmp_path / "pairs.tsv"
    sts.write_text("".join(f"a cat {i}\ta dog {i}\t{i % 5}\n" for i in range(10)))
    cls_train, cls_test = tmp_path / "tr.tsv", tmp_path / "te.tsv"
    for path in (cls_train, cls_test):
        path.write_text("".join(f"text {i}\t{'ab'[i % 2]}\n" for i in range(8)))
    model = load_encoder(str(tiny))
    out = tmp_path / "results"
    kw = dict(data_dir=tmp_path, out=out, model_name="tiny", use_cache=False, n_experiments=1)
    evaluate(model, tasks=[f"sts-file:{sts}"], **kw)
    evaluate(model, tasks=[f"cls-file:{cls_train},{cls_test}"], samples_per_label=2, **kw)
    evaluate(model, tasks=[f"sts-file:{sts}"], **kw)  # the same key again: newest wins
    rows = [json.loads(x) for x in (out / "tiny.jsonl").read_text().splitlines()]
    assert {r["task"] for r in rows} == {"sts-file", "cls-file"}
    keys = [(r["task"], r["subset"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert "cls-file" in (out / "tiny.md").read_text()


def test_eval_does_not_replace_a_file_it_did_not_write(tiny, tmp_path, capsys):
    sts = tmp_path / "pairs.tsv"
    sts.write_text("".join(f"a cat {i}\ta dog {i}\t{i % 5}\n" for i in range(10)))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "tiny.md").write_text("# my notes about the tiny model")
    args = ["eval", "--model", str(tiny), "--tasks", f"sts-file:{sts}", "--name", "tiny"]
    assert main([*args, "--out", str(out), "--data-dir", str(tmp_path), "--no-cache"]) == 1
    assert "not written by polyalign" in _error_line(capsys)
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"todo": "buy milk"}\n')
    assert main([*args, "--out", str(notes), "--data-dir", str(tmp_path), "--no-cache"]) == 1
    assert "not a polyalign result row" in _error_line(capsys)
    assert (out / "tiny.md").read_text().startswith("# my notes") and "milk" in notes.read_text()


def _signal_at_step(monkeypatch, signum: int, at: int) -> None:
    import polyalign.train.trainer as trainer_mod

    real, calls = trainer_mod.make_objective, {"n": 0}

    def objective(*a, **kw):
        calls["n"] += 1
        if calls["n"] == at:
            os.kill(os.getpid(), signum)
        return real(*a, **kw)

    monkeypatch.setattr(trainer_mod, "make_objective", objective)


class _Killed(Exception):
    pass


def _raise_killed(signum, frame):
    raise _Killed(signum)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["INT", "TERM"])
def test_sigint_or_sigterm_saves_a_checkpoint_and_resume_continues(
    signum, code, tiny, corpus, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    args = ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out), "--steps", "5"]
    args += ["--batch-groups", "4", "--lr", "1e-3", "--max-seq-length", "16", "--save-every", "100"]
    _signal_at_step(monkeypatch, signum, at=3)
    # An unhandled SIGTERM would end the whole test session; make it an ordinary failure instead.
    previous = signal.signal(signal.SIGTERM, _raise_killed)
    try:
        assert main(args) == code
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert "step-00000003" in err and "--resume" in err
    assert (out / "checkpoints" / "step-00000003" / "state.pt").is_file()
    assert not (out / "modules.json").exists()
    if signum != signal.SIGINT:
        return
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert _same_weights(out, tmp_path / "whole")


# --- Silently wrong ---


def test_best_checkpoint_direction_comes_from_the_evaluator(tiny, corpus, tmp_path):
    def evaluator(model):  # an error rate, like flores-dev-xsim
        return {"xsim_error": next(scores)}

    evaluator.higher_is_better = False
    cfg = _cfg(tiny, corpus, tmp_path / "run", steps=3, eval_every=1, eval_metric="xsim_error")
    for mode, expected in [(None, 1.0), ("max", 9.0)]:  # eval_mode only overrides
        scores = iter([5.0, 1.0, 9.0])
        result = train(dataclasses.replace(cfg, eval_mode=mode, overwrite=True), evaluator)
        assert result.best_metric == expected


def test_stop_after_reports_the_steps_that_ran(tiny, corpus, tmp_path):
    out = tmp_path / "run"
    result = train(_cfg(tiny, corpus, out, steps=4), stop_after=3)
    assert result.steps == 3
    assert not (out / "modules.json").exists()  # 3 of 4 steps: not a finished model
    result = train(_cfg(tiny, corpus, out, steps=4, resume=True), stop_after=1)
    assert result.steps == 3  # resumed at 2, ran one step
    result = train(_cfg(tiny, corpus, out, steps=4, resume=True))
    assert result.steps == 4 and (out / "modules.json").is_file()


def test_outputs_respect_the_umask(tmp_path):
    from polyalign.io import atomic_path, write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        with atomic_path(tmp_path / "folder", is_dir=True) as tmp:
            (tmp / "f").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755


def test_staging_left_by_a_killed_write_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "big"
    child = (
        "import os, signal, sys\n"
        "from polyalign.io import atomic_path\n"
        "with atomic_path(sys.argv[1], is_dir=True) as tmp:\n"
        "    (tmp / 'part').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    rc = subprocess.run([sys.executable, "-c", child, str(target)], env=env).returncode
    assert rc == -signal.SIGKILL
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".big.")]  # the leftover
    live = tmp_path / f".big.polyalign-tmp-{os.getppid()}-0a1b"  # a live writer's: kept
    live.mkdir()
    from polyalign.io import atomic_path

    with atomic_path(target, is_dir=True) as tmp:
        (tmp / "whole").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big", live.name])


# --- Crashes ---


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
@pytest.mark.parametrize("command", ["data build", "train", "eval"])
def test_unwritable_out_is_one_line(where, command, tmp_path, tiny, corpus, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out" if where == "under-a-file" else Path("/proc/polyalign-x/out")
    args = {
        "data build": _build_args(tmp_path, out),
        "train": ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out)],
        "eval": ["eval", "--model", str(tiny), "--tasks", "sts-file:x.tsv", "--out", str(out)],
    }[command]
    assert main(args) == 1
    assert str(out) in _error_line(capsys)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_state_pt_falls_back_to_the_previous_checkpoint(tiny, corpus, tmp_path, caplog):
    out = tmp_path / "run"
    train(_cfg(tiny, corpus, out, steps=6, save_every=2), stop_after=5)  # checkpoints 2, 4
    _truncate(out / "checkpoints" / "step-00000004" / "state.pt")
    result = train(_cfg(tiny, corpus, out, steps=6, save_every=2, resume=True), stop_after=1)
    assert result.steps == 3  # resumed from step 2
    assert any("step-00000004/state.pt" in r.message and "falling back" in r.message for r in caplog.records)
    _truncate(out / "checkpoints" / "step-00000002" / "state.pt")
    _truncate(out / "checkpoints" / "step-00000004" / "state.pt")
    with pytest.raises(PolyalignError, match=r"no intact checkpoint.*step-00000004/state.pt: unreadable"):
        train(_cfg(tiny, corpus, out, steps=6, save_every=2, resume=True))


def test_truncated_model_safetensors_in_eval_is_one_line(tiny, tmp_path, capsys):
    model = shutil.copytree(tiny, tmp_path / "model")
    _truncate(model / "model.safetensors")
    args = ["eval", "--model", str(model), "--tasks", "sts-file:x.tsv", "--out", str(tmp_path / "r")]
    assert main([*args, "--data-dir", str(tmp_path)]) == 1
    line = _error_line(capsys)
    assert "model.safetensors: damaged or truncated" in line


# --- Security ---


class _Payload:
    """Unpickling this creates a folder: proof that code from the file ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_planted_pickle_payload_in_state_pt_is_refused(tiny, corpus, tmp_path, capsys):
    out = tmp_path / "run"
    train(_cfg(tiny, corpus, out, steps=4), stop_after=3)  # checkpoint at step 2
    state_pt = out / "checkpoints" / "step-00000002" / "state.pt"
    state = torch.load(state_pt, weights_only=True)
    pwned = tmp_path / "pwned"
    state["extra"]["history"] = [_Payload(pwned)]
    torch.save(state, state_pt)
    args = ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out), "--steps", "4"]
    args += ["--batch-groups", "4", "--lr", "1e-3", "--max-seq-length", "16", "--save-every", "2"]
    assert main([*args, "--resume"]) == 1
    line = _error_line(capsys)
    assert "state.pt: refused" in line and "mkdir" in line
    assert not pwned.exists()


def test_unsafe_checkpoint_is_not_skipped_for_an_older_one(tmp_path):
    from polyalign.train.checkpoint import UnsafeCheckpointError, read_latest_checkpoint

    for step in (1, 2):
        (tmp_path / f"step-0000000{step}").mkdir()
    torch.save({"step": 1}, tmp_path / "step-00000001" / "state.pt")
    torch.save({"step": _Payload(tmp_path / "pwned")}, tmp_path / "step-00000002" / "state.pt")
    with pytest.raises(UnsafeCheckpointError):
        read_latest_checkpoint(tmp_path)
    assert not (tmp_path / "pwned").exists()


# ================================================================================================
# Bad inputs (the second half of the matrix): its own fixtures — a dropout-free tiny model and a
# corpus with hard negatives.


@pytest.fixture(scope="module")
def corpus_hn(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "c", n_groups=24)


@pytest.fixture(scope="module")
def tiny_nodrop(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny"), dropout=0.0)


def _cfg_inputs(tiny_nodrop, corpus_hn, tmp_path, **kw) -> TrainConfig:
    base = dict(
        model=str(tiny_nodrop), data=str(corpus_hn), out=str(tmp_path / "run"), batch_groups=4, steps=2
    )
    base.update(lr=1e-3, chunk_size=8, save_every=1, log_every=1, max_seq_length=32)
    return TrainConfig(**{**base, **kw})


def _polyalign(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A real ``polyalign`` process with stdout/stderr on pipes (not a terminal), as in a log file."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    env.pop("POLYALIGN_PROGRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "polyalign", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


# --- Silently wrong ---


def test_tsv_with_three_columns_is_refused(tmp_path):
    from polyalign.data.build import build_corpus

    tsv = tmp_path / "ids.tsv"
    tsv.write_text("s1\tHello.\tHallo.\ns2\tBye.\tTschüss.\n", encoding="utf-8")
    # Before: the id column became the English side.
    with pytest.raises(DataError, match=r"ids\.tsv:1: expected two tab-separated columns \(en, de\), got 3"):
        build_corpus("bitext", files=[f"en:de:{tsv}"])


def test_flores_default_pivot_en_builds_and_trains_en_x(tmp_path, tiny_nodrop):
    from polyalign.data.build import build_corpus, save_corpus
    from polyalign.train.trainer import Trainer

    dev = tmp_path / "data" / "flores200" / "dev"
    dev.mkdir(parents=True)
    for code, word in [("eng_Latn", "one"), ("deu_Latn", "eins"), ("fra_Latn", "un")]:
        (dev / f"{code}.dev").write_text("".join(f"{word} {i}\n" for i in range(12)), encoding="utf-8")
    corpus_hn, meta = build_corpus("flores", data_dir=tmp_path / "data")  # pivot: the default "en"
    assert meta["pivot"] == "eng_Latn" and len(corpus_hn["en_x"]) == 24
    save_corpus(corpus_hn, tmp_path / "c", meta)
    # Before: no En–X pairs for pivot "en", reported as "lower --batch-groups".
    trainer = Trainer(
        _cfg_inputs(tiny_nodrop, tmp_path / "c", tmp_path, loss="single", data_view="en_x", batch_groups=2)
    )
    assert trainer.pivot == "eng_Latn" and trainer.steps_per_epoch > 0


@pytest.mark.parametrize(
    "field,value", [("batch_groups", True), ("steps", False), ("lr", True), ("pivot", False)]
)
def test_boolean_for_a_number_or_string_is_refused(field, value):
    # Before: `batch_groups: true` trained with 1 group per step; YAML's `pivot: no` became "False".
    with pytest.raises(ConfigError, match=f"config field '{field}': cannot read {value}"):
        from_dict(TrainConfig, {"data": "x", field: value})
    with pytest.raises(ConfigError, match=f"config field '{field}'"):
        TrainConfig(data="x", **{field: value}).validate()


def test_batch_without_negatives_is_refused(tiny_nodrop, corpus_hn, tmp_path):
    from polyalign.train.trainer import Trainer

    # Before: one group per step trained on a loss of exactly 0.
    with pytest.raises(ConfigError, match="no negatives"):
        Trainer(_cfg_inputs(tiny_nodrop, corpus_hn, tmp_path, batch_groups=1))


def test_compare_pairs_naming_an_unknown_arm_is_refused(tmp_path):
    from polyalign.study import StudyConfig

    cfg = {"name": "s", "data": {}, "train": {}, "eval": {}, "arms": {"single": {}, "multi": {}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**cfg, "compare_pairs": [["single", "mutli"]]}))
    # Before: the section was silently left out of the report.
    with pytest.raises(ConfigError, match=r"compare_pairs names unknown arm\(s\) \['mutli'\]"):
        StudyConfig.from_yaml(path)


def test_mse_student_without_normalize_regresses_onto_the_raw_teacher(tiny_nodrop, corpus_hn, tmp_path):
    import torch.nn.functional as F

    from polyalign.train.trainer import Trainer

    trainer = Trainer(_cfg_inputs(tiny_nodrop, corpus_hn, tmp_path, loss="mse", teacher="self"))
    assert not any(type(m).__name__ == "Normalize" for m in trainer.model)  # raw embeddings
    batch = trainer.batcher.local_batch(trainer.batcher.epoch(0)[0])
    b = batch.n_pairs
    texts = [trainer.texts[t] for t in batch.texts]
    with torch.no_grad():
        raw = trainer.teacher.encode(texts, convert_to_tensor=True, normalize_embeddings=False).float()
    x, y = raw[:b], raw[b:]
    assert float(x.norm(dim=1).mean()) > 1.5  # far from unit length: normalising would show
    # Student = teacher at step 0, so MSE(S(x), T(x)) = 0 and the loss is MSE(S(y), T(x)) on raw
    # embeddings. Before: the teacher was L2-normalised and the loss was far from this.
    expected = F.mse_loss(x, x) + F.mse_loss(y, x)
    assert trainer.step(0, batch) == pytest.approx(float(expected), rel=1e-4)


# --- Crashes ---
# DDP + freeze_embeddings: tests/test_train_distributed.py (2 ranks, gloo) runs the combination.


def test_nan_embeddings_stop_with_the_last_good_checkpoint(tiny_nodrop, corpus_hn, tmp_path, monkeypatch):
    import polyalign.train.trainer as trainer_mod

    real, calls = trainer_mod.make_objective, {"n": 0}

    def poisoned(cfg, loss, batch, teacher=None):
        fn = real(cfg, loss, batch, teacher)
        calls["n"] += 1
        return (lambda e: fn(e * float("nan"))) if calls["n"] == 2 else fn

    monkeypatch.setattr(trainer_mod, "make_objective", poisoned)
    # Before: LossInputError from inside the loss, without the checkpoint to resume from.
    with pytest.raises(
        TrainingError, match=r"non-finite embeddings .* at step 2.*checkpoint: .*step-00000001"
    ):
        train(_cfg_inputs(tiny_nodrop, corpus_hn, tmp_path, steps=3))


class _NanGradient(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss with a non-finite gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


def test_nan_gradient_norm_with_a_finite_loss_stops(tiny_nodrop, corpus_hn, tmp_path, monkeypatch):
    import polyalign.train.trainer as trainer_mod

    real = trainer_mod.make_objective
    monkeypatch.setattr(
        trainer_mod, "make_objective", lambda *a: lambda e, fn=real(*a): fn(_NanGradient.apply(e))
    )
    cfg = _cfg_inputs(tiny_nodrop, corpus_hn, tmp_path, steps=1)
    # Before: NaN gradients went into AdamW, the weights became NaN and the model was saved.
    with pytest.raises(TrainingError, match=r"non-finite gradient norm \(nan\) with a finite loss at step 1"):
        train(cfg)
    assert not (tmp_path / "run" / "modules.json").exists()


@pytest.mark.parametrize("lr", ["nan", "inf"])
def test_lr_nan_is_a_one_line_error(corpus_hn, tmp_path, capsys, lr):
    # Before: a torch traceback from AdamW ("Invalid learning rate").
    assert main(["train", "--data", str(corpus_hn), "--lr", lr, "--out", str(tmp_path / "r")]) == 1
    assert "config field 'lr' must be a finite number" in capsys.readouterr().err


def test_embedding_memo_full_keeps_the_current_texts():
    from polyalign.eval.encode import Encoder

    enc = Encoder(lambda texts: np.ones((len(texts), 3)), use_cache=False, memo_limit=3)
    enc.encode(["a", "b"])
    # Before: the memo was cleared when full and "a" (memoised, of this call) raised KeyError.
    assert enc.encode(["a", "c", "d"]).shape == (3, 3)


def test_study_arm_typo_is_refused_before_any_work(tmp_path, corpus_hn, tiny_nodrop):
    from polyalign.study import StudyConfig, run_study

    text = yaml.safe_dump(
        {
            "name": "s",
            "data": {"source": "synth", "path": str(corpus_hn)},
            "train": {"model": str(tiny_nodrop), "steps": 1, "batch_groups": 2, "max_seq_length": 16},
            "eval": {"tasks": ["tatoeba:deu@5"]},
            "include_base": False,
            "arms": {"ok": {"loss": "multi"}, "typo": {"loss": "single", "learnig_rate": 1}},
        }
    )
    path = tmp_path / "study.yaml"
    path.write_text(text + "seeds: [0]\n")
    # Before: a bare TypeError, after the corpus was built (and the first arms trained).
    with pytest.raises(ConfigError, match=r"arm 'typo': unknown config field\(s\) \['learnig_rate'\]"):
        run_study(path, out=tmp_path / "out")
    assert not (tmp_path / "out" / "corpus").exists()
    # YAML 1.1 reads `2e-5` (no dot) as a string: a numeric string is a number, as on the CLI.
    path.write_text(text.replace("learnig_rate: 1", "lr: 2e-5") + "seeds: [0]\n")
    study = StudyConfig.from_yaml(path)
    assert study.arms["typo"]["lr"] == "2e-5"
    assert study.train_config("typo", str(corpus_hn), str(tmp_path / "r"), seed=0).lr == 2e-5


def test_binary_stdin_on_embed_is_a_one_line_error(tiny_nodrop, tmp_path, monkeypatch, capsys):
    raw = b"hello\n\xff\xfe\x00\x01binary\n"
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    )
    # Before: a tokenizer TypeError traceback.
    assert main(["embed", "--model", str(tiny_nodrop), "--out", str(tmp_path / "e.npy")]) == 1
    assert "<stdin>:2: invalid UTF-8 at byte 0" in capsys.readouterr().err


def test_mistyped_run_folder_fails_fast_offline(tmp_path, monkeypatch):
    from polyalign.models import load_encoder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    # Before: a hub lookup (50-80 s of retries when online-but-unreachable), then "could not load".
    with pytest.raises(PolyalignError, match="'runs/goood': no such folder, and not a hub id here"):
        load_encoder("runs/goood")
    assert time.perf_counter() - t < 5


def test_mistyped_run_folder_with_the_hub_unreachable_fails_fast(tmp_path, monkeypatch):
    import huggingface_hub

    from polyalign.models import load_encoder

    def unreachable(name, timeout=None):
        assert timeout is not None and timeout <= 10  # one quick probe, no retries
        raise OSError("Name or service not known")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(PolyalignError, match="no such folder, and not a hub id here.*unreachable"):
        load_encoder("runs/goood")


# --- What a newcomer sees ---


def test_default_output_has_no_third_party_chatter_or_bar_frames(tiny_nodrop, corpus_hn, tmp_path):
    proc = _polyalign(
        *("train", "--model", str(tiny_nodrop), "--data", str(corpus_hn), "--out", "run", "--steps", "2"),
        *("--batch-groups", "4", "--max-seq-length", "16", "--log-every", "1"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # Before: sentence-transformers INFO lines (with internal staging paths), weight-loading and
    # training bars as carriage-return frames in a log file.
    assert "sentence_transformers" not in proc.stderr and "staging" not in proc.stderr
    assert "\r" not in proc.stderr and "it/s]" not in proc.stderr
    assert "step 2/2" in proc.stderr and "saved run" in proc.stdout  # polyalign's own progress


def test_data_build_bars_only_with_verbose_and_a_terminal(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("".join(f"Hello {i}.\tHallo {i}.\n" for i in range(5)), encoding="utf-8")
    args = ("data", "build", "bitext", "--file", f"en:de:{tsv}", "--out")
    quiet = _polyalign(*args, "c1", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "Saving the dataset" not in quiet.stderr  # before: one bar per split
    # The output flags after the command too; no terminal, so still no bars.
    verbose = _polyalign(*args, "c2", "-v", "--no-progress", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert "Saving the dataset" not in verbose.stderr


def test_progress_bars_only_on_a_terminal_and_never_with_no_progress(monkeypatch):
    from polyalign import console

    monkeypatch.delenv(console.PROGRESS_ENV, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert console.show_progress()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not console.show_progress()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv(console.PROGRESS_ENV, "0")  # what --no-progress sets (children inherit it)
    assert not console.show_progress()


def test_help_imports_no_torch_transformers_or_datasets(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    for argv in (["--help"], ["train", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "polyalign", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        # Before: 2-5 s of torch, datasets and transformers imports for a help text.
        heavy = {"torch", "transformers", "datasets", "sentence_transformers", "numpy"}
        assert not heavy & imported, sorted(heavy & imported)


def test_train_help_shows_true_defaults_in_groups(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    # Before: "(default: lr) (default: None)" and 47 flags in one list.
    assert "(default: None)" not in out and "(default: lr) (default" not in out
    assert "(default: lr)" in out and "(default: 2e-05)" in out and "(default: false)" in out
    for title in ("model and data:", "loss:", "optimisation:", "speed and memory:", "evaluation during"):
        assert title in out


# --- Data loss: single-file outputs and report folders ---


def _result_rows(path: Path) -> Path:
    row = {"task": "tatoeba", "subset": "deu-eng", "metric": "accuracy", "value": 90.0, "max_seq_length": 8}
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "subset": "fra-eng"}) + "\n")
    return path


def test_embed_does_not_replace_an_existing_file(tiny, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a cat\n")
    target = tmp_path / "thesis.npy"
    target.write_bytes(b"precious")
    args = ["embed", "--model", str(tiny), "--input", str(tmp_path / "in.txt"), "--out", str(target)]
    # Before: replaced without a word.
    assert main(args) == 1 and "exists; pass --overwrite" in _error_line(capsys)
    assert target.read_bytes() == b"precious"
    assert main([*args, "--overwrite"]) == 0 and target.read_bytes() != b"precious"


def test_report_compare_out_refuses_a_foreign_folder(tmp_path, capsys):
    base, run = _result_rows(tmp_path / "base.jsonl"), _result_rows(tmp_path / "run.jsonl")
    folder = _foreign(tmp_path / "notes")
    args = ["report", "compare", "--base", str(base), "--runs", f"run={run}", "--out", str(folder)]
    assert main(args) == 1 and "not written by polyalign" in _error_line(capsys)
    assert _intact(folder)
    reports = tmp_path / "reports"
    assert main([*args[:-1], str(reports)]) == 0 and (reports / "deltas.md").is_file()
    assert main([*args[:-1], str(reports)]) == 1  # our own report: only with --overwrite
    assert main([*args[:-1], str(reports), "--overwrite"]) == 0


def test_report_heatmap_does_not_replace_an_existing_file(tmp_path, capsys):
    target = tmp_path / "figure.png"
    target.write_bytes(b"my figure")
    assert main(["report", "heatmap", "--model", "m", "--langs", "eng,deu", "--out", str(target)]) == 1
    assert "exists; pass --overwrite" in _error_line(capsys) and target.read_bytes() == b"my figure"


# --- polyalign mine: bad input is one line, and nothing is written ---


def _mine_inputs(tmp_path) -> dict[str, Path]:
    files = {
        "en": "The cat sleeps.\nThe dog runs.\nRain falls.\n",
        "de": "Die Katze schläft.\nDer Hund rennt.\nRegen fällt.\n",
        "empty": "",
        "blank": "\n   \n\t\n",
        "gold": "1\t1\n2\t7\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text(text, encoding="utf-8")
    paths["bad-utf8"] = tmp_path / "bad.txt"
    paths["bad-utf8"].write_bytes(b"Gut.\nSch\xf6n.\n")
    return paths


MINE_FAULTS = {
    # case: (args after --model/--out, what the one line must say)
    "empty file": (["--pivot", "eng:{en}", "--lang", "deu:{empty}"], "{empty}: file is empty"),
    "invalid UTF-8": (["--pivot", "eng:{en}", "--lang", "deu:{bad-utf8}"], "{bad-utf8}:2: invalid UTF-8"),
    "nothing left after dedup": (
        ["--pivot", "eng:{en}", "--lang", "deu:{blank}"],
        "{blank}: no deu sentences left",
    ),
    "gold names an unknown line": (
        ["--pivot", "eng:{en}", "--lang", "deu:{de}", "--dev-gold", "deu:{gold}"],
        "{gold}:2: deu line 7 is not in",
    ),
    "same language twice": (
        ["--pivot", "eng:{en}", "--lang", "deu:{de}", "--lang", "de:{de}"],
        "given twice",
    ),
    "pivot as a language": (["--pivot", "eng:{en}", "--lang", "en:{de}"], "given twice"),
    "missing pivot": (["--lang", "deu:{de}"], "--pivot LANG:FILE"),
    "missing pivot file": (["--pivot", "eng:{en}.nope", "--lang", "deu:{de}"], "{en}.nope: file not found"),
}


@pytest.mark.parametrize("case", list(MINE_FAULTS))
def test_mine_bad_input_is_one_line_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded before the inputs are checked")

    monkeypatch.setattr("polyalign.mine.pipeline._load_model", no_model)
    paths = _mine_inputs(tmp_path)
    fill = {k: str(v) for k, v in paths.items()}
    args, expected = MINE_FAULTS[case]
    out = tmp_path / "mined"
    cmd = ["mine", "--model", "m", "--out", str(out), "--no-cache", *[a.format(**fill) for a in args]]
    assert main(cmd) == 1
    assert expected.format(**fill) in _error_line(capsys)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".mined")]


def test_mine_with_faiss_asked_for_but_absent_is_one_line(tmp_path, capsys, monkeypatch):
    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded (nor text encoded) before the backend is checked")

    monkeypatch.setattr("polyalign.mine.pipeline._load_model", no_model)
    monkeypatch.setattr("polyalign.mine.score.faiss_available", lambda: False)
    paths = _mine_inputs(tmp_path)
    out = tmp_path / "mined"
    args = ["mine", "--model", "m", "--pivot", f"eng:{paths['en']}", "--lang", f"deu:{paths['de']}"]
    for backend in ("faiss", "faiss-ivf"):
        assert main([*args, "--out", str(out), "--no-cache", "--backend", backend]) == 1
        assert "needs faiss: pip install faiss-cpu" in _error_line(capsys)
        assert not out.exists()


def test_mine_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    paths = _mine_inputs(tmp_path)
    out = _foreign(tmp_path / "thesis")
    args = ["mine", "--model", "m", "--pivot", f"eng:{paths['en']}", "--lang", f"deu:{paths['de']}"]
    assert main([*args, "--out", str(out), "--overwrite"]) == 1
    assert "not written by polyalign" in _error_line(capsys) and _intact(out)


# --- Silently wrong: the embedding cache across token limits ---


def test_embedding_cache_never_serves_another_token_limit(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    from polyalign.eval.runner import evaluate

    model = SentenceTransformer(str(tiny), device="cpu")
    long_line = " ".join(["cat house river tree music"] * 20)
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "eng.txt").write_text(f"{long_line}\nthe sea\n")
    (folder / "deu.txt").write_text(f"{long_line} Katze\ndas Meer\n")

    def embed(length: int) -> float:
        rows = evaluate(
            model, tasks=[f"bitext-dir:{folder}"], cache_dir=tmp_path / "cache", max_seq_length=length
        )
        assert {r["max_seq_length"] for r in rows} == {length}
        from polyalign.eval.encode import Encoder

        enc = Encoder(model, cache_dir=tmp_path / "cache")
        return enc.encode([long_line], key="probe")[0], enc.fingerprint

    short, fp_short = embed(8)
    full, fp_full = embed(64)
    # Before: the fingerprint ignored the limit (sentence-transformers 5+ omits it from repr), so the
    # second evaluation silently reused the 8-token embeddings from the cache.
    assert fp_short != fp_full
    assert float((short * full).sum()) < 0.999


def test_one_encoder_reused_at_another_token_limit_reencodes(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    from polyalign.eval.encode import Encoder

    model = SentenceTransformer(str(tiny), device="cpu")
    enc = Encoder(model, cache_dir=tmp_path / "cache")
    text = " ".join(["cat house river tree music"] * 20)
    first, fp_first = enc.encode([text], key="probe")[0], enc.fingerprint
    model.max_seq_length = 8  # what evaluate(max_seq_length=8) does to the model of a passed Encoder
    # Before: the in-memory memo and the cached fingerprint served the 64-token embedding.
    second = enc.encode([text], key="probe")[0]
    assert enc.fingerprint != fp_first and float((first * second).sum()) < 0.999
