"""Fault matrix, inputs half (issue 12): one case per bad input, each failing on the code before its fix.

Tiny models and corpora built in-process; the few cases that must watch a real ``polyalign``
process (what reaches a log file, what ``--help`` imports) run one short subprocess each.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from _train_fixtures import make_corpus, save_tiny
from polyalign.cli import main
from polyalign.config import from_dict
from polyalign.errors import ConfigError, DataError, PolyalignError
from polyalign.train import TrainConfig, TrainingError, train

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus") / "c", n_groups=24)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny"), dropout=0.0)


def _cfg(tiny, corpus, tmp_path, **kw) -> TrainConfig:
    base = dict(model=str(tiny), data=str(corpus), out=str(tmp_path / "run"), batch_groups=4, steps=2)
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


def test_flores_default_pivot_en_builds_and_trains_en_x(tmp_path, tiny):
    from polyalign.data.build import build_corpus, save_corpus
    from polyalign.train.trainer import Trainer

    dev = tmp_path / "data" / "flores200" / "dev"
    dev.mkdir(parents=True)
    for code, word in [("eng_Latn", "one"), ("deu_Latn", "eins"), ("fra_Latn", "un")]:
        (dev / f"{code}.dev").write_text("".join(f"{word} {i}\n" for i in range(12)), encoding="utf-8")
    corpus, meta = build_corpus("flores", data_dir=tmp_path / "data")  # pivot: the default "en"
    assert meta["pivot"] == "eng_Latn" and len(corpus["en_x"]) == 24
    save_corpus(corpus, tmp_path / "c", meta)
    # Before: no En–X pairs for pivot "en", reported as "lower --batch-groups".
    trainer = Trainer(_cfg(tiny, tmp_path / "c", tmp_path, loss="single", data_view="en_x", batch_groups=2))
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


def test_batch_without_negatives_is_refused(tiny, corpus, tmp_path):
    from polyalign.train.trainer import Trainer

    # Before: one group per step trained on a loss of exactly 0.
    with pytest.raises(ConfigError, match="no negatives"):
        Trainer(_cfg(tiny, corpus, tmp_path, batch_groups=1))


def test_compare_pairs_naming_an_unknown_arm_is_refused(tmp_path):
    from polyalign.study import StudyConfig

    cfg = {"name": "s", "data": {}, "train": {}, "eval": {}, "arms": {"single": {}, "multi": {}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**cfg, "compare_pairs": [["single", "mutli"]]}))
    # Before: the section was silently left out of the report.
    with pytest.raises(ConfigError, match=r"compare_pairs names unknown arm\(s\) \['mutli'\]"):
        StudyConfig.from_yaml(path)


def test_mse_student_without_normalize_regresses_onto_the_raw_teacher(tiny, corpus, tmp_path):
    import torch.nn.functional as F

    from polyalign.train.trainer import Trainer

    trainer = Trainer(_cfg(tiny, corpus, tmp_path, loss="mse", teacher="self"))
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


def test_nan_embeddings_stop_with_the_last_good_checkpoint(tiny, corpus, tmp_path, monkeypatch):
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
        train(_cfg(tiny, corpus, tmp_path, steps=3))


class _NanGradient(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss with a non-finite gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


def test_nan_gradient_norm_with_a_finite_loss_stops(tiny, corpus, tmp_path, monkeypatch):
    import polyalign.train.trainer as trainer_mod

    real = trainer_mod.make_objective
    monkeypatch.setattr(
        trainer_mod, "make_objective", lambda *a: lambda e, fn=real(*a): fn(_NanGradient.apply(e))
    )
    cfg = _cfg(tiny, corpus, tmp_path, steps=1)
    # Before: NaN gradients went into AdamW, the weights became NaN and the model was saved.
    with pytest.raises(TrainingError, match=r"non-finite gradient norm \(nan\) with a finite loss at step 1"):
        train(cfg)
    assert not (tmp_path / "run" / "modules.json").exists()


@pytest.mark.parametrize("lr", ["nan", "inf"])
def test_lr_nan_is_a_one_line_error(corpus, tmp_path, capsys, lr):
    # Before: a torch traceback from AdamW ("Invalid learning rate").
    assert main(["train", "--data", str(corpus), "--lr", lr, "--out", str(tmp_path / "r")]) == 1
    assert "config field 'lr' must be a finite number" in capsys.readouterr().err


def test_embedding_memo_full_keeps_the_current_texts():
    from polyalign.eval.encode import Encoder

    enc = Encoder(lambda texts: np.ones((len(texts), 3)), use_cache=False, memo_limit=3)
    enc.encode(["a", "b"])
    # Before: the memo was cleared when full and "a" (memoised, of this call) raised KeyError.
    assert enc.encode(["a", "c", "d"]).shape == (3, 3)


def test_study_arm_typo_is_refused_before_any_work(tmp_path, corpus, tiny):
    from polyalign.study import StudyConfig, run_study

    text = yaml.safe_dump(
        {
            "name": "s",
            "data": {"source": "synth", "path": str(corpus)},
            "train": {"model": str(tiny), "steps": 1, "batch_groups": 2, "max_seq_length": 16},
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
    assert study.train_config("typo", str(corpus), str(tmp_path / "r"), seed=0).lr == 2e-5


def test_binary_stdin_on_embed_is_a_one_line_error(tiny, tmp_path, monkeypatch, capsys):
    raw = b"hello\n\xff\xfe\x00\x01binary\n"
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    )
    # Before: a tokenizer TypeError traceback.
    assert main(["embed", "--model", str(tiny), "--out", str(tmp_path / "e.npy")]) == 1
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


def test_default_output_has_no_third_party_chatter_or_bar_frames(tiny, corpus, tmp_path):
    proc = _polyalign(
        *("train", "--model", str(tiny), "--data", str(corpus), "--out", "run", "--steps", "2"),
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
