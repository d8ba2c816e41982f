"""The recipe's pieces: the monolingual-structure term in training, WiSE-FT interpolation (in the
trainer, in studies), presets (CLI, YAML, Python, study arms)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from _train_fixtures import save_tiny, tiny_config
from polyalign.cli import main
from polyalign.errors import ConfigError
from polyalign.train import TrainConfig, train
from polyalign.train.presets import PRESETS
from polyalign.train.trainer import Trainer


def _weights(path):
    from sentence_transformers import SentenceTransformer

    return {k: v.clone() for k, v in SentenceTransformer(str(path), device="cpu").state_dict().items()}


def test_keep_mono_objective_adds_the_structure_term_of_the_batch(tiny, corpus, tmp_path):
    """loss + λ·structure(student rows, reference rows, the batch's languages) — pair batches too."""
    from polyalign.losses import info_nce, monolingual_structure_loss
    from polyalign.train.objectives import make_objective

    cfg = tiny_config(tiny, corpus, tmp_path / "run", loss="single", keep_mono=3.0)
    trainer = Trainer(cfg)
    assert trainer.teacher is not None  # keep_mono alone loads the frozen reference
    batch = trainer.batcher.local_batch(trainer.batcher.epoch(0)[0])
    n, b = len(batch.texts), batch.n_pairs
    emb = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    ref = torch.randn(n, 8, generator=torch.Generator().manual_seed(1))
    codes = sorted(set(batch.langs))
    ids = torch.tensor([codes.index(lang) for lang in batch.langs])
    got = make_objective(cfg, "single", batch, ref)(emb)
    expected = info_nce(emb[:b], emb[b:], cfg.temperature, symmetric=True) + 3.0 * monolingual_structure_loss(
        emb, ref, ids
    )
    torch.testing.assert_close(got, expected)
    assert float(monolingual_structure_loss(emb, ref, ids)) > 0.1  # the term is not vanishing here


def test_keep_mono_keeps_the_base_structure_closer(corpus, tmp_path):
    """Same seed and steps, high learning rate: with the term, the trained model's same-language
    similarities correlate better with the base's than without it (no dropout: the tiny random
    model's structure is too fragile to see through dropout noise in 8 steps)."""
    from sentence_transformers import SentenceTransformer

    from polyalign.data.build import load_corpus
    from polyalign.losses import monolingual_structure_loss

    tiny = save_tiny(tmp_path / "tiny", dropout=0.0)
    groups = load_corpus(corpus)["groups"].select(range(12))
    texts = [t for lang in ("en", "de", "fr") for t in groups[lang]]
    ids = torch.tensor([i for i in range(3) for _ in range(12)])
    base = SentenceTransformer(str(tiny), device="cpu").encode(texts, convert_to_tensor=True)
    drift = {}
    for weight in (0.0, 20.0):
        out = tmp_path / f"w{weight}"
        train(tiny_config(tiny, corpus, out, loss="single", lr=3e-3, steps=8, keep_mono=weight))
        emb = SentenceTransformer(str(out), device="cpu").encode(texts, convert_to_tensor=True)
        drift[weight] = float(monolingual_structure_loss(emb, base, ids))
    assert drift[20.0] < 0.7 * drift[0.0], drift


def test_wise_alpha_saves_the_interpolation_with_the_base(tiny, corpus, tmp_path):
    full = tmp_path / "full"
    half = tmp_path / "half"
    train(tiny_config(tiny, corpus, full, loss="multi"))
    train(tiny_config(tiny, corpus, half, loss="multi", wise_alpha=0.25))
    w_base, w_full, w_half = _weights(tiny), _weights(full), _weights(half)
    moved = 0
    for name, value in w_half.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.25 * w_full[name] + 0.75 * w_base[name], atol=1e-6, rtol=1e-5)
            moved += not torch.equal(w_full[name], w_base[name])
    assert moved > 10
    assert "α = 0.25 (WiSE-FT)" in (half / "README.md").read_text(encoding="utf-8")


def test_lora_trains_adapters_and_saves_merged_plain_weights(tiny, corpus, tmp_path):
    out = tmp_path / "lora"
    train(tiny_config(tiny, corpus, out, loss="single", lora_r=4, lr=1e-2))
    w_base, w_lora = _weights(tiny), _weights(out)
    assert w_lora.keys() == w_base.keys()  # merged: loads without peft, same architecture as the base
    changed = {k for k in w_base if not torch.equal(w_base[k], w_lora[k])}
    assert changed and all(k.split(".")[-2] in ("query", "key", "value", "dense") for k in changed), changed
    assert not any("pooler" in k or "embeddings" in k or "LayerNorm" in k for k in changed)
    assert "LoRA rank 4 (merged)" in (out / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="not supported with LoRA"):
        tiny_config(tiny, corpus, out, lora_r=4, eval_metric="accuracy").validate()


def test_interpolating_different_architectures_is_a_clear_error(tmp_path):
    from polyalign.train.interpolate import interpolate_weights

    a, b = torch.nn.Linear(3, 4), torch.nn.Linear(3, 5)
    with pytest.raises(ConfigError, match="weight has shape"):
        interpolate_weights(a, b, 0.5)
    with pytest.raises(ConfigError, match="differ in"):
        interpolate_weights(a, torch.nn.Sequential(torch.nn.Linear(3, 4)), 0.5)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_config_that_records_its_name(name):
    cfg = TrainConfig.from_preset(name, data="d")
    cfg.validate()
    assert cfg.preset == name and all(getattr(cfg, k) == v for k, v in PRESETS[name].fields.items())


@pytest.mark.parametrize("study", ["dev", "config", "gpu"])
@pytest.mark.parametrize(
    ("preset", "arm"),
    [("soft-labels", "soft_labels"), ("structure", "single_mono1"), ("soft-structure", "soft_structure")],
)
def test_recipe_study_arms_train_exactly_their_presets(study, preset, arm):
    """What the recipe study measured is what ``--preset`` ships: the arm's training config equals
    the preset applied to the study's shared machine and data settings (batch, epochs, length…)."""
    from polyalign.study import StudyConfig

    path = Path(__file__).parents[1] / "experiments" / "recipe" / f"{study}.yaml"
    cfg = StudyConfig.from_yaml(path)
    measured = cfg.train_config(arm, "corpus", "out", seed=0)
    shared = {k: v for k, v in cfg.train.items() if k not in PRESETS[preset].fields}
    shipped = TrainConfig.from_preset(preset, **shared, data="corpus", out="out", seed=0)
    assert dataclasses.replace(shipped, preset=None) == measured


def test_presets_sit_under_yaml_and_command_line(tiny, corpus, tmp_path, capsys):
    recipe = PRESETS["soft-labels"].fields
    cfg = TrainConfig.from_preset("soft-labels", data=str(corpus), out=str(tmp_path / "x"))
    assert {k: getattr(cfg, k) for k in recipe} == recipe and cfg.preset == "soft-labels"
    # An explicit value wins over the preset's, in Python, YAML and on the command line.
    assert TrainConfig.from_preset("soft-labels", data="d", wise_alpha=1.0).wise_alpha == 1.0
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(
        yaml.safe_dump({"preset": "soft-labels", "model": str(tiny), "data": str(corpus), "keep_mono": 0.5})
    )
    out = tmp_path / "cli"
    args = ["train", "-c", str(yaml_path), "--steps", "2", "--batch-groups", "2", "--out", str(out)]
    assert main(args + ["--max-seq-length", "16", "--wise-alpha", "0.9"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert saved["preset"] == "soft-labels" and saved["loss"] == recipe["loss"]
    assert saved["keep_mono"] == 0.5 and saved["wise_alpha"] == 0.9
    assert main(["train", "--list-presets"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{name}:" in listed for name in PRESETS)


def test_unknown_preset_is_one_line(corpus, tmp_path, capsys):
    assert main(["train", "--preset", "recipe2", "--data", str(corpus), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown preset 'recipe2'" in err[0] and "recipe" in err[0]
    assert not (tmp_path / "o").exists()


def test_preset_named_in_python_but_not_applied_is_refused(tmp_path):
    # TrainConfig(preset=...) cannot tell given fields from defaults: it would record "recipe" on a
    # model trained with plain defaults. The refusal names the way that applies the preset.
    cfg = TrainConfig(preset="recipe", data="d", out=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match=r"preset 'recipe' is named but not applied.*from_preset"):
        cfg.validate()
    # A copy of an applied config (dataclasses.replace, as the seeds loop does) stays valid, and a
    # preset whose settings are all defaults ("mpcl") has nothing to miss.
    applied = TrainConfig.from_preset("recipe", data="d")
    dataclasses.replace(applied, seed=3).validate()
    TrainConfig(preset="mpcl", data="d").validate()
    assert not (tmp_path / "o").exists()


def _study(tmp_path, tiny, corpus, arms) -> str:
    cfg = {
        "name": "wise",
        "data": {"source": "synth", "path": str(corpus)},
        "train": {"model": str(tiny), "batch_groups": 4, "steps": 3, "max_seq_length": 16, "save_every": 100},
        "arms": arms,
        "seeds": [0],
        "eval": {"tasks": ["tatoeba:deu@20"]},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_study_arm_interpolated_from_another_is_not_trained(tiny, corpus, tmp_path, data_dir):
    from polyalign.study import run_study

    path = _study(
        tmp_path,
        tiny,
        corpus,
        {"wise": {"from_arm": "multi", "wise_alpha": 0.5}, "multi": {"loss": "multi", "preset": "mpcl"}},
    )
    out = tmp_path / "out"
    run_study(path, out=out, data_dir=data_dir)
    w_base, w_multi, w_wise = (
        _weights(p) for p in (tiny, out / "models/multi/seed-0", out / "models/wise/seed-0")
    )
    name = next(
        k for k in w_multi if w_multi[k].is_floating_point() and not torch.equal(w_multi[k], w_base[k])
    )
    torch.testing.assert_close(w_wise[name], 0.5 * w_multi[name] + 0.5 * w_base[name])
    assert not (out / "models/wise/seed-0/train_log.jsonl").exists()  # interpolated, not trained
    assert any((out / "results/wise/seed-0").glob("*.jsonl"))


def test_study_soup_interpolates_two_trained_arms_not_the_base(tiny, corpus, tmp_path, data_dir):
    from polyalign.study import run_study

    arms = {
        "soup": {"from_arm": "multi", "interpolate_with": "single", "wise_alpha": 0.7},
        "multi": {"loss": "multi", "preset": "mpcl"},
        "single": {"loss": "single", "lr": 1e-3},
    }
    out = tmp_path / "out"
    run_study(_study(tmp_path, tiny, corpus, arms), out=out, data_dir=data_dir)
    w_base, w_multi, w_single, w_soup = (
        _weights(p) for p in (tiny, *(out / f"models/{a}/seed-0" for a in ("multi", "single", "soup")))
    )
    name = next(
        k
        for k in w_multi
        if w_multi[k].is_floating_point()
        and not torch.equal(w_multi[k], w_base[k])
        and not torch.equal(w_single[k], w_base[k])
    )
    torch.testing.assert_close(w_soup[name], 0.7 * w_multi[name] + 0.3 * w_single[name])
    card = (out / "models/soup/seed-0/README.md").read_text()
    assert "models/single/seed-0` (weight 0.3)" in card and "base model" not in card.split("Interpolated")[1]
    assert not (out / "models/soup/seed-0/train_log.jsonl").exists()


@pytest.mark.parametrize(
    "arms, match",
    [
        ({"a": {"from_arm": "b", "wise_alpha": 0.5}}, "must name a trained arm"),
        ({"a": {"loss": "multi"}, "b": {"interpolate_with": "a", "wise_alpha": 0.5}}, "needs from_arm"),
        (
            {"a": {"loss": "multi"}, "b": {"from_arm": "a", "interpolate_with": "a", "wise_alpha": 0.5}},
            "names its from_arm again",
        ),
        (
            {"a": {"loss": "multi"}, "b": {"from_arm": "a", "interpolate_with": "c", "wise_alpha": 0.5}},
            "interpolate_with must name a trained arm",
        ),
        ({"a": {"loss": "multi"}, "b": {"from_arm": "a"}}, "give wise_alpha"),
        ({"a": {"loss": "multi"}, "b": {"from_arm": "a", "wise_alpha": 0.5, "lr": 1.0}}, "nothing else"),
        ({"a": {"loss": "multi", "wise_alpha": 0.5}, "b": {"from_arm": "a", "wise_alpha": 0.5}}, "without"),
        ({"a": {"loss": "multi", "preset": "nope"}}, "unknown preset 'nope'"),
        ({"a": {"loss": "multi", "wise_alpha": 0}}, "wise_alpha must be in"),
        ({"a": {"loss": "multi", "keep_mono": -1}}, "keep_mono must be"),
    ],
)
def test_bad_recipe_arms_are_refused_before_any_work(tiny, corpus, tmp_path, data_dir, arms, match):
    from polyalign.study import run_study

    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        run_study(_study(tmp_path, tiny, corpus, arms), out=out, data_dir=data_dir)
    assert not out.exists()
