"""Tiny corpora and models for the training tests (built in-process, no downloads)."""

from __future__ import annotations

import random
from pathlib import Path

from polyalign.data.build import make_views, save_corpus
from polyalign.data.groups import groups_from_aligned
from polyalign.data.views import xnli_hard_negatives

LANGS = ["en", "de", "fr", "es", "ru", "zh"]
WORDS = ["red", "blue", "cat", "house", "river", "tree", "music", "rain", "bread", "train", "moon", "book"]


def make_corpus(
    path: Path, n_groups: int = 48, seed: int = 0, ragged: bool = True, hard: bool = True
) -> Path:
    """Groups of 6 'translations' (word salad with a language tag) of varying length; some ragged."""
    rng = random.Random(seed)
    texts = {lang: [] for lang in LANGS}
    for g in range(n_groups):
        words = rng.choices(WORDS, k=rng.randint(2, 12))
        for lang in LANGS:
            missing = ragged and lang in ("ru", "zh") and g % 7 == 3
            texts[lang].append(
                "" if missing else f"{lang}:{g} " + " ".join(reversed(words) if lang == "zh" else words)
            )
    groups = groups_from_aligned(texts, prefix="t")
    from polyalign.data.groups import filter_groups

    groups, _ = filter_groups(groups)
    cands = (
        {gid: {"en": f"not {gid} at all", "de": f"nicht {gid}"} for gid in list(groups["group_id"])[::3]}
        if hard
        else None
    )
    corpus = make_views(groups, pivot="en", hard_candidates=cands)
    if hard:
        corpus["hard_negatives"] = xnli_hard_negatives({g: c for g, c in cands.items()}, seed=seed)
    save_corpus(corpus, path, {"source": "test"})
    return path


def save_tiny(path: Path, dropout: float = 0.1, seed: int = 0) -> Path:
    from polyalign.models.tiny import build_tiny_encoder

    model = build_tiny_encoder(path / "build", dropout=dropout, seed=seed)
    model.save(str(path / "model"))
    return path / "model"


def tiny_config(tiny: Path, corpus: Path, out: Path, **kw):
    """A TrainConfig for the tiny model: 4 groups per step, 4 steps, checkpoints every 2 (overridable)."""
    from polyalign.train import TrainConfig

    base = dict(
        model=str(tiny),
        data=str(corpus),
        out=str(out),
        batch_groups=4,
        steps=4,
        lr=1e-3,
        chunk_size=8,
        save_every=2,
        log_every=1,
        max_seq_length=32,
    )
    return TrainConfig(**{**base, **kw})
