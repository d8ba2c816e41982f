"""Training engine: batching rules, GradCache equivalence, resume, NaN handling, CLI, configs."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import torch

from _train_fixtures import tiny_config
from polyalign.cli import main
from polyalign.errors import ConfigError, DataError
from polyalign.train import TrainConfig, TrainingError, train
from polyalign.train.batching import Batcher, GroupTable, one_pair_per_group
from polyalign.train.trainer import Trainer


def _cfg(tiny, corpus, tmp_path, **kw):
    return tiny_config(tiny, corpus, tmp_path / "run", **kw)


# ------------------------------------------------------------------ batching


def _table(n=40, sizes=(6, 5, 4)):
    rng = random.Random(0)
    members, lengths = [], []
    for g in range(n):
        k = sizes[g % len(sizes)]
        m = []
        base = rng.randint(5, 60)  # translations have similar lengths
        for lang in ["en", "de", "fr", "es", "ru", "zh"][:k]:
            m.append((lang, len(lengths)))
            lengths.append(base + rng.randint(-3, 3))
        members.append(m)
    return GroupTable(members, lengths)


def test_group_batches_never_split_or_repeat_a_group():
    table = _table()
    world = 2
    batchers = [
        Batcher(table, "groups", batch_groups=4, seed=3, world_size=world, rank=r) for r in range(world)
    ]
    epoch = batchers[0].epoch(0)
    assert (
        epoch == batchers[1].epoch(0) == Batcher(table, "groups", 4, seed=3, world_size=2).epoch(0)
    )  # deterministic
    assert epoch != batchers[0].epoch(1)
    seen_all = set()
    for global_batch in epoch:
        assert len(set(global_batch)) == len(global_batch) == 8
        locals_ = [b.local_batch(global_batch) for b in batchers]
        gids = [set(lb.group_ids.tolist()) for lb in locals_]
        assert not gids[0] & gids[1]  # the ranks split the global batch
        for lb in locals_:  # every member of each group is present: a group is never split
            for g in set(lb.group_ids.tolist()):
                assert lb.group_ids.tolist().count(g) == len(table.members[g])
        seen_all |= set(global_batch)
    assert len(seen_all) == 40  # 40 groups / 8 per batch: the epoch covers every group once


def test_pair_batches_have_distinct_groups_and_same_sentence_budget():
    table = _table(sizes=(6,))
    b = Batcher(table, "pairs", batch_groups=4, seed=0)
    assert b.local_pairs == 12  # 4 groups × 6 sentences = 24 sentences = 12 pairs
    for batch in b.epoch(0):
        assert len({p[0] for p in batch}) == len(batch)
        assert all(p[1] != p[3] for p in batch)
    # Parallel structure: each sentence appears in exactly one pair per epoch.
    pairs = b._pairs(0)
    used = [p[2] for p in pairs] + [p[4] for p in pairs]
    assert len(used) == len(set(used)) == 6 * 40


def test_en_x_pairs_and_warmup_pairs():
    table = _table(sizes=(6,))
    b = Batcher(table, "en_x", batch_groups=2, seed=0, pivot="en")
    assert all(p[1] == "en" and p[3] != "en" for batch in b.epoch(0) for p in batch)
    gb = Batcher(table, "groups", 4, seed=0).local_batch(Batcher(table, "groups", 4, seed=0).epoch(0)[0])
    warm = one_pair_per_group(gb, random.Random(0))
    assert warm.kind == "pairs" and warm.n_pairs == 4 and len(set(warm.group_ids.tolist())) == 4


def test_en_x1_pairs_each_pivot_sentence_once_with_one_of_its_languages():
    table = _table(sizes=(6, 5, 4, 1))  # ragged groups; English-only groups give no pair
    b = Batcher(table, "en_x1", batch_groups=2, seed=0, pivot="en")
    for epoch in (0, 1):
        pairs = b._pairs(epoch)
        pivots = [p[2] for p in pairs]
        with_x = [g for g, m in enumerate(table.members) if len(m) > 1]
        assert sorted(pivots) == sorted(table.members[g][0][1] for g in with_x)  # each exactly once
        for g, la, _, lb, tb in pairs:
            assert la == "en" and lb != "en" and (lb, tb) in table.members[g]
        assert all(p[1] == "en" for batch in b.epoch(epoch) for p in batch)
    # Seeded and deterministic; another seed or epoch draws other X; every language gets drawn.
    draw = [p[3] for p in b._pairs(0)]
    assert draw == [p[3] for p in Batcher(table, "en_x1", 2, seed=0, pivot="en")._pairs(0)]
    assert draw != [p[3] for p in Batcher(table, "en_x1", 2, seed=1, pivot="en")._pairs(0)]
    assert draw != [p[3] for p in b._pairs(1)]
    assert set(draw) == {"de", "fr", "es", "ru", "zh"}


def test_en_x1_has_the_group_sentence_budget_and_fewer_steps_than_en_x():
    table = _table(n=60, sizes=(6,))
    groups, en_x, en_x1 = (
        Batcher(table, v, batch_groups=4, seed=0, bucket_batches=1) for v in ("groups", "en_x", "en_x1")
    )
    assert en_x.local_pairs == en_x1.local_pairs == 12  # 4 groups × 6 sentences = 12 pairs
    # One epoch: groups 60/4 = 15 steps; en_x1 60 / 12 = 5 steps; en_x 60·5 pairs / 12 = 25 steps
    # (less a batch when pairs of one group collide and are carried to a batch that never fills).
    assert (groups.steps_per_epoch(), en_x1.steps_per_epoch()) == (15, 5)
    assert en_x.steps_per_epoch() >= 24


def test_group_batches_carry_language_ids():
    table = _table()
    b = Batcher(table, "groups", 4, seed=0)
    batch = b.local_batch(b.epoch(0)[0])
    assert table.languages == ["de", "en", "es", "fr", "ru", "zh"]
    assert [table.languages[i] for i in batch.lang_ids.tolist()] == batch.langs


def test_bucketing_reduces_padding():
    table = _table(n=400)

    def padding(bucket):
        b = Batcher(table, "groups", 8, seed=0, bucket_batches=bucket)
        waste = 0
        for batch in b.epoch(0):
            lens = [table.lengths[t] for g in batch for _, t in table.members[g]]
            waste += max(lens) * len(lens) - sum(lens)
        return waste

    assert padding(25) < 0.7 * padding(1)


def test_fewer_groups_than_a_batch_is_an_error(tiny, corpus, tmp_path):
    with pytest.raises(DataError, match="one global batch needs"):
        Trainer(_cfg(tiny, corpus, tmp_path, batch_groups=500))


# ------------------------------------------------------------------ GradCache


def _grads(cfg):
    trainer = Trainer(cfg)
    torch.manual_seed(123)
    batch = trainer.batcher.local_batch(trainer.batcher.epoch(0)[0])
    batch = trainer._orient(batch)
    from polyalign.train.encoding import forward_backward
    from polyalign.train.objectives import make_objective

    teacher = trainer._teacher_embeddings(batch)
    objective = make_objective(cfg, cfg.loss, batch, teacher)
    loss = forward_backward(
        trainer.model,
        trainer.tokens,
        batch.texts + batch.hard_texts,
        objective,
        chunk_size=cfg.chunk_size,
        device=trainer.device,
        grad_cache=cfg.grad_cache,
    )
    return loss, {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    "loss,extra",
    [
        ("multi", {}),
        ("multi", {"hard_negatives": True, "minmax": True}),
        ("multi-out", {}),
        ("multiway", {}),
        ("multiway", {"minmax": True}),
        ("single", {}),
        ("single", {"data_view": "en_x1"}),
        ("weighted-multi", {"teacher": "self"}),
        ("soft-priority", {"teacher": "self", "tcm": True}),
        ("soft-average", {"teacher": "self"}),
        ("soft-hard", {}),
        ("mse", {"teacher": "self"}),
        # The recipe's monolingual-structure term (reference: a frozen copy of the base).
        ("single", {"keep_mono": 2.0}),
        ("multi", {"keep_mono": 1.0, "minmax": True}),
        ("single", {"lora_r": 4}),
        # IMASCL's options: margin on every entry the teacher rates above the threshold (a low one,
        # so off-diagonal entries get it too), summed or averaged terms, similarity-matrix MSE.
        ("soft-priority", {"teacher": "self", "tcm": True, "margin": 0.3, "positive_threshold": 0.5}),
        ("soft-average", {"teacher": "self", "margin": 0.3, "soft_combine": "mean"}),
        ("soft-hard", {"margin": 0.3, "tcm": True}),
        ("sim-mse-priority", {"teacher": "self", "tcm": True}),
        ("sim-mse-average", {"teacher": "self", "soft_combine": "mean"}),
    ],
)
def test_grad_cache_matches_plain_step(tiny, corpus, tmp_path, loss, extra):
    cfg = _cfg(tiny, corpus, tmp_path, loss=loss, chunk_size=5, **extra)
    plain_loss, plain = _grads(cfg)
    cached_loss, cached = _grads(dataclasses.replace(cfg, grad_cache=True))
    assert torch.allclose(plain_loss, cached_loss, atol=1e-6)
    assert plain.keys() == cached.keys() and len(plain) > 10
    for name in plain:
        assert torch.allclose(plain[name], cached[name], atol=1e-5, rtol=1e-4), name


def test_multiway_objective_is_the_multiway_loss_of_the_batch(tiny, corpus, tmp_path):
    """The trainer hands the loss the batch's group and language ids (ragged corpus groups)."""
    from polyalign.losses import multi_positive_loss, multiway_pair_loss
    from polyalign.train.objectives import make_objective

    cfg = _cfg(tiny, corpus, tmp_path, loss="multiway")
    trainer = Trainer(cfg)
    batch = trainer.batcher.local_batch(trainer.batcher.epoch(0)[0])
    emb = torch.randn(len(batch.texts), 8, generator=torch.Generator().manual_seed(0))
    codes = sorted(set(batch.langs))
    lang_ids = torch.tensor([codes.index(lang) for lang in batch.langs])
    got = make_objective(cfg, "multiway", batch)(emb)
    torch.testing.assert_close(got, multiway_pair_loss(emb, batch.group_ids, lang_ids, cfg.temperature))
    assert not torch.allclose(got, multi_positive_loss(emb, batch.group_ids, cfg.temperature, form="out"))


def test_multiway_config_rules(tiny, corpus, tmp_path):
    assert _cfg(tiny, corpus, tmp_path, loss="multiway").view == "groups"
    for bad, match in (
        ({"data_view": "en_x1"}, "needs whole groups"),
        ({"hard_negatives": True}, "not with multiway"),
    ):
        with pytest.raises(ConfigError, match=match):
            _cfg(tiny, corpus, tmp_path, loss="multiway", **bad).validate()
    _cfg(tiny, corpus, tmp_path, loss="multiway", minmax=True).validate()
    _cfg(tiny, corpus, tmp_path, loss="single", data_view="en_x1").validate()


# ------------------------------------------------------------------ runs, resume, failures


def _weights(path):
    from sentence_transformers import SentenceTransformer

    return {k: v.clone() for k, v in SentenceTransformer(str(path), device="cpu").state_dict().items()}


def test_killed_run_resumes_to_the_same_weights(tiny, corpus, tmp_path):
    full = _cfg(tiny, corpus, tmp_path / "a", steps=6)
    train(full)
    part = _cfg(tiny, corpus, tmp_path / "b", steps=6)
    train(part, stop_after=3)  # "killed" after step 3; last checkpoint at step 2
    assert (tmp_path / "b" / "run" / "checkpoints" / "step-00000002" / "state.pt").is_file()
    assert not (tmp_path / "b" / "run" / "modules.json").exists()  # no final model from a killed run
    train(dataclasses.replace(part, resume=True))
    a, b = _weights(tmp_path / "a" / "run"), _weights(tmp_path / "b" / "run")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    rows = [json.loads(x) for x in (tmp_path / "b" / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows][-3:] == [4, 5, 6]


def test_nan_loss_stops_and_keeps_checkpoint(tiny, corpus, tmp_path, monkeypatch):
    import polyalign.train.trainer as trainer_mod

    real = trainer_mod.make_objective
    calls = {"n": 0}

    def poisoned(cfg, loss, batch, teacher=None):
        fn = real(cfg, loss, batch, teacher)
        calls["n"] += 1
        return (lambda e: fn(e) * float("nan")) if calls["n"] == 3 else fn

    monkeypatch.setattr(trainer_mod, "make_objective", poisoned)
    cfg = _cfg(tiny, corpus, tmp_path, steps=6)
    with pytest.raises(
        TrainingError, match=r"non-finite loss \(nan\) at step 3.*last good checkpoint: .*step-00000002"
    ):
        train(cfg)
    assert (tmp_path / "run" / "checkpoints" / "step-00000002" / "state.pt").is_file()


def test_loss_warmup_then_multi_and_seeds_summary(tiny, corpus, tmp_path):
    cfg = _cfg(tiny, corpus, tmp_path, loss_warmup_steps=2, loss_warmup_lr=5e-4, seeds=[0, 1], steps=3)
    evaluations = []

    def evaluator(model):
        evaluations.append(1)
        return {"score": float(len(evaluations))}

    results = train(cfg, evaluator)
    assert len(results) == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "seed-0" / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss_name"] for r in rows] == ["single", "single", "multi"]
    assert rows[0]["lr"] == pytest.approx(5e-4)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_eval"]["score"]["values"] == [1.0, 2.0]


def test_best_checkpoint_selection(tiny, corpus, tmp_path):
    scores = iter([5.0, 9.0, 1.0])
    cfg = _cfg(tiny, corpus, tmp_path, steps=3, eval_every=1, eval_metric="acc")
    snapshots = []

    def evaluator(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"acc": next(scores)}

    result = train(cfg, evaluator)
    assert result.best_metric == 9.0
    saved = _weights(tmp_path / "run")
    best = snapshots[1]
    assert all(torch.allclose(saved[k], best[k]) for k in saved)


def test_config_yaml_and_cli_overrides(tiny, corpus, tmp_path):
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text(f"model: {tiny}\ndata: {corpus}\nloss: single\nsteps: 2\nbatch_groups: 2\nlr: 0.5\n")
    out = tmp_path / "cli"
    rc = main(["train", "-c", str(yaml_path), "--lr", "1e-4", "--out", str(out), "--max-seq-length", "16"])
    assert rc == 0
    import yaml

    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["lr"] == 1e-4 and resolved["loss"] == "single" and resolved["max_seq_length"] == 16
    from polyalign.config import from_dict

    with pytest.raises(ConfigError, match="unknown config field"):
        from_dict(TrainConfig, {"data": "x", "learning_rate": 1})
    assert (
        main(["train", "--data", str(corpus), "--loss", "soft-priority", "--out", str(tmp_path / "x")]) == 1
    )


@pytest.mark.data
def test_short_form_cli_on_real_xnli_with_default_encoder(data_dir, tmp_path):
    corpus = tmp_path / "xnli"
    assert (
        main(
            [
                "data",
                "build",
                "xnli",
                "--data-dir",
                str(data_dir),
                "--langs",
                "en,de,fr,es,ru,zh",
                "--split",
                "dev",
                "--out",
                str(corpus),
            ]
        )
        == 0
    )
    out = tmp_path / "m"
    assert (
        main(
            [
                "train",
                "--model",
                "me5-small-q4",
                "--data",
                str(corpus),
                "--loss",
                "multi",
                "--steps",
                "3",
                "--batch-groups",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out), device="cpu")
    emb = model.encode(["Hello", "Hallo"], normalize_embeddings=True)
    assert emb.shape == (2, 384)
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and log[-1]["seq_per_s"] > 0 and log[-1]["peak_memory_gib"] > 0
