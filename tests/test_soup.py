"""Two-model soups (``soup_with``): the two runs, their weight average, the folder rules, the
recommended preset's parts = the study arms that were measured."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml

from _train_fixtures import tiny_config
from polyalign.cli import main
from polyalign.errors import ConfigError, OutputError
from polyalign.train import TrainConfig, train
from polyalign.train.presets import PRESETS
from polyalign.train.soup import PARTS, soup_parts


def _weights(path):
    from sentence_transformers import SentenceTransformer

    return {k: v.clone() for k, v in SentenceTransformer(str(path), device="cpu").state_dict().items()}


def test_soup_trains_both_runs_and_saves_their_weight_average(tiny, corpus, tmp_path):
    out = tmp_path / "soup"
    cfg = tiny_config(tiny, corpus, out, loss="single", steps=2, soup_with="structure", soup_weight=0.6)
    results = train(cfg)
    assert [r.out for r in results] == [out / PARTS / "main", out / PARTS / "structure", out]
    assert results[-1].steps == 4  # both parts' steps
    main_w, other_w, soup_w = (_weights(p) for p in (out / PARTS / "main", out / PARTS / "structure", out))
    moved = [k for k in soup_w if soup_w[k].is_floating_point() and not torch.equal(main_w[k], other_w[k])]
    assert moved  # the two runs differ (the partner's loss, lr and structure term)
    for k in moved:
        torch.testing.assert_close(soup_w[k], 0.6 * main_w[k] + 0.4 * other_w[k])
    # Each part is its own run with its own settings; the partner's are the preset's.
    main_cfg = yaml.safe_load((out / PARTS / "main" / "config.yaml").read_text(encoding="utf-8"))
    other_cfg = yaml.safe_load((out / PARTS / "structure" / "config.yaml").read_text(encoding="utf-8"))
    assert main_cfg["keep_mono"] == 0 and main_cfg["lr"] == 1e-3 and main_cfg["soup_with"] is None
    assert other_cfg["keep_mono"] == 1.0 and other_cfg["lr"] == 2e-5 and other_cfg["preset"] == "structure"
    assert other_cfg["seed"] == main_cfg["seed"] and other_cfg["steps"] == main_cfg["steps"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "0.6 × `main` + 0.4 × `structure`" in card


def test_soup_folder_rules_resume_and_overwrite(tiny, corpus, tmp_path, capsys):
    out = tmp_path / "soup"
    args = ["train", "--model", str(tiny), "--data", str(corpus), "--out", str(out), "--loss", "single"]
    args += ["--steps", "1", "--batch-groups", "2", "--max-seq-length", "16", "--soup-with", "structure"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"saved {out}  steps=2  (weight average)" in printed
    before = (out / "model.safetensors").stat().st_mtime_ns
    # Again without a flag: refused, nothing touched.
    assert main(args) == 1
    assert "pass --resume" in capsys.readouterr().err
    assert (out / "model.safetensors").stat().st_mtime_ns == before
    # --resume keeps both complete parts (no training) and writes the soup again.
    part = (out / PARTS / "main" / "model.safetensors").stat().st_mtime_ns
    assert main(args + ["--resume"]) == 0
    assert (out / PARTS / "main" / "model.safetensors").stat().st_mtime_ns == part
    assert "saved" in capsys.readouterr().out
    # A folder polyalign did not write is never used.
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        train(tiny_config(tiny, corpus, theirs, loss="single", steps=1, soup_with="structure"))
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"soup_with": "nope"}, "unknown soup_with preset 'nope'"),
        ({"soup_with": "recipe"}, "itself a soup"),
        ({"soup_with": "structure", "soup_weight": 1.0}, "strictly between 0 and 1"),
        ({"soup_with": "structure", "soup_weight": float("nan")}, "finite number"),
        ({"soup_with": "structure", "wise_alpha": 0.7}, "use one"),
    ],
)
def test_bad_soups_are_refused_before_any_work(tiny, corpus, tmp_path, fields, match):
    with pytest.raises(ConfigError, match=match):
        train(tiny_config(tiny, corpus, tmp_path / "o", **fields))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("study", ["dev", "config", "gpu"])
def test_recipe_preset_is_the_soup_the_study_measured(study):
    """``--preset recipe`` = arm recipe: 0.7 × arm soft_labels + 0.3 × arm soft_structure, each part
    trained exactly as the study trained that arm."""
    from polyalign.study import StudyConfig

    cfg = StudyConfig.from_yaml(Path(__file__).parents[1] / "experiments" / "recipe" / f"{study}.yaml")
    assert cfg.arms["recipe"] == {
        "from_arm": "soft_labels",
        "interpolate_with": "soft_structure",
        "wise_alpha": PRESETS["recipe"].fields["soup_weight"],
    }
    shared = {k: v for k, v in cfg.train.items() if k not in PRESETS["recipe"].fields}
    shipped = TrainConfig.from_preset("recipe", **shared, data="corpus", out="out", seed=0)
    own, other = soup_parts(shipped)
    for part, arm in ((own, "soft_labels"), (other, "soft_structure")):
        measured = cfg.train_config(arm, "corpus", part.out, seed=0)
        assert dataclasses.replace(part, preset=None) == measured


def test_soup_with_seeds_makes_one_soup_per_seed(tiny, corpus, tmp_path):
    out = tmp_path / "seeds"
    cfg = tiny_config(tiny, corpus, out, loss="single", steps=1, seeds=[0, 1], soup_with="structure")
    results = train(cfg)
    assert [r.out for r in results] == [out / "seed-0", out / "seed-1"]
    for seed in (0, 1):
        assert (out / f"seed-{seed}" / "modules.json").is_file()
        assert (out / f"seed-{seed}" / PARTS / "structure" / "modules.json").is_file()
    assert (out / "summary.json").is_file()
