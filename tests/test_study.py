"""The study runner: arms × seeds on a tiny model and corpus, in-process and as parallel child jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from _train_fixtures import make_corpus, save_tiny
from polyalign.errors import ConfigError
from polyalign.study import run_study


def _config(tmp_path, model, corpus) -> str:
    cfg = {
        "name": "tiny_study",
        "data": {"source": "synth", "path": str(corpus)},
        "train": {
            "model": str(model),
            "batch_groups": 4,
            "steps": 3,
            "max_seq_length": 16,
            "save_every": 100,
        },
        "arms": {"single": {"loss": "single"}, "multi": {"loss": "multi"}},
        "seeds": [0, 1],
        "compare_pairs": [["single", "multi"]],
        "eval": {"tasks": ["tatoeba:deu,fra@20"], "seen_langs": ["en", "de", "fr"]},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    return tmp, save_tiny(tmp / "tiny"), make_corpus(tmp / "corpus", n_groups=24)


def _result_dirs(out):
    return sorted(
        str(p.relative_to(out / "results"))
        for p in (out / "results").glob("*/seed-*")
        if any(p.glob("*.jsonl"))
    )


def test_study_in_process_then_resume(setup, data_dir):
    tmp, model, corpus = setup
    config, out = _config(tmp, model, corpus), tmp / "serial"
    report = run_study(config, out=out, data_dir=data_dir, only=["single"], seeds=[0])
    assert _result_dirs(out) == ["base/seed-0", "single/seed-0"]
    text = report.read_text()
    assert "## Each arm vs the base model" in text and "tatoeba" in text
    # A second invocation skips what is done: the saved model is not retrained (same mtime).
    weights = next((out / "models" / "single" / "seed-0").glob("*.safetensors"))
    before = weights.stat().st_mtime_ns
    run_study(config, out=out, data_dir=data_dir, only=["single", "multi"], seeds=[0])
    assert weights.stat().st_mtime_ns == before
    assert _result_dirs(out) == ["base/seed-0", "multi/seed-0", "single/seed-0"]
    assert "multi vs single" in (out / "RESULTS.md").read_text()


def test_study_parallel_jobs_match_serial_runs(setup, data_dir):
    tmp, model, corpus = setup
    config = _config(tmp, model, corpus)
    serial, parallel = tmp / "serial-2", tmp / "parallel"
    run_study(config, out=serial, data_dir=data_dir, only=["multi"], seeds=[1])
    run_study(config, out=parallel, data_dir=data_dir, seeds=[0, 1], jobs=2)
    assert _result_dirs(parallel) == [
        "base/seed-0",
        "multi/seed-0",
        "multi/seed-1",
        "single/seed-0",
        "single/seed-1",
    ]
    assert sorted(p.name for p in (parallel / "logs").iterdir()) == [
        "multi-seed-0.log",
        "multi-seed-1.log",
        "single-seed-0.log",
        "single-seed-1.log",
    ]

    def rows(out):
        (path,) = (out / "results" / "multi" / "seed-1").glob("*.jsonl")
        return [(r["subset"], round(r["value"], 6)) for r in map(json.loads, path.read_text().splitlines())]

    # A child process trains the same model as the in-process runner: deterministic per seed.
    assert rows(parallel) == rows(serial)


def test_study_bad_request_is_an_error_before_any_work(setup, data_dir):
    tmp, model, corpus = setup
    with pytest.raises(ConfigError, match="unknown arm"):
        run_study(_config(tmp, model, corpus), out=tmp / "bad", data_dir=data_dir, only=["nope"])
    with pytest.raises(ConfigError, match="--jobs must be"):
        run_study(_config(tmp, model, corpus), out=tmp / "bad", data_dir=data_dir, jobs=0)
    assert not (tmp / "bad" / "corpus").exists() and not (tmp / "bad" / "results").exists()


@pytest.mark.parametrize("name", ["config", "gpu", "synth", "synth_gpu"])
def test_multiway_vs_enx_arms_train_equal_sentences_per_step_and_equal_steps(name):
    """The study compares the multi-way loss with the paper's En–X baseline (one X per English
    sentence) at equal sentences per step and equal steps, keeping L_out and every-pair En–X as ablations."""
    from polyalign.study import StudyConfig
    from polyalign.train import TrainConfig
    from polyalign.train.batching import Batcher, GroupTable

    path = Path(__file__).parents[1] / "experiments" / "multiway_vs_enx" / f"{name}.yaml"
    study = StudyConfig.from_yaml(path)
    cfgs = {arm: TrainConfig(**{**study.train, **(o or {}), "data": "x"}) for arm, o in study.arms.items()}
    for cfg in cfgs.values():
        cfg.validate()
    losses = {(c.loss, c.view) for c in cfgs.values()}
    assert {
        ("multiway", "groups"),
        ("multi-out", "groups"),
        ("single", "en_x1"),
        ("single", "en_x"),
    } <= losses
    assert len({c.steps for c in cfgs.values()}) == 1 and cfgs[next(iter(cfgs))].steps is not None
    # Sentences per step on six-way groups: a group batch and a pair batch encode the same number.
    langs = ["en", "de", "fr", "es", "ru", "zh"]
    table = GroupTable([[(lang, 6 * g + k) for k, lang in enumerate(langs)] for g in range(400)], [8] * 2400)
    per_step = set()
    for cfg in cfgs.values():
        b = Batcher(table, cfg.view, cfg.batch_groups, pivot=cfg.pivot)
        per_step.add(len(b.local_batch(b.epoch(0)[0]).texts))
    assert len(per_step) == 1


STUDY_FILES = sorted((Path(__file__).parents[1] / "experiments").glob("*/*.yaml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_study_config_is_valid(path):
    """Every arm of every study in experiments/ passes the typed config, its eval fields are known and
    its task specs parse: an edited YAML must fail here, not after hours of training."""
    from polyalign.eval.tasks import SUITES, parse_task
    from polyalign.study import StudyConfig

    study = StudyConfig.from_yaml(path)
    study.check("runs/check/corpus")
    for spec in study.eval.get("tasks", []):
        parse_task(spec)
    assert study.eval.get("suite") in (None, *SUITES)
    for a, b in study.compare_pairs:
        assert a in study.arms and b in study.arms, (a, b)


def test_shipped_study_configs_are_found():
    assert len(STUDY_FILES) >= 10
