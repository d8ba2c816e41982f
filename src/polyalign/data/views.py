"""Views of multi-way groups for the papers' baselines.

Pair views share one schema so the trainer reads them the same way::

    group_id, lang_a, text_a, lang_b, text_b

- :func:`parallel_pairs` — MPCL's *parallel structure* baseline: each K-way group becomes ⌊K/2⌋
  random disjoint language pairs, so every sentence is seen exactly once (odd K leaves one out),
  the same sentences the multi-positive loss sees.
- :func:`english_centric_pairs` — En–X pairs only: with ``per_group="one"`` the multi-way paper's
  baseline (each English sentence with one X drawn from the pool; split ``en_x1``), with ``"all"``
  every En–X pair of a group (English repeated once per language; split ``en_x``, an ablation).
- :func:`xnli_hard_negatives` — MPCL's hard negatives: the contradiction hypothesis of a group's
  premise, in a random language.
"""

from __future__ import annotations

import random

import datasets

from ..errors import DataError, UnknownLanguageError
from .groups import GROUP_ID, group_languages

PAIR_FEATURES = datasets.Features(
    {
        GROUP_ID: datasets.Value("string"),
        "lang_a": datasets.Value("string"),
        "text_a": datasets.Value("string"),
        "lang_b": datasets.Value("string"),
        "text_b": datasets.Value("string"),
    }
)


def _present(row: dict, langs: list[str]) -> list[str]:
    return [lang for lang in langs if row[lang] is not None]


def parallel_pairs(groups: datasets.Dataset, seed: int = 0) -> datasets.Dataset:
    """⌊K/2⌋ disjoint random language pairs per group; the order within a pair is random too."""
    rng = random.Random(seed)
    langs = group_languages(groups)
    rows = {k: [] for k in PAIR_FEATURES}
    for row in groups:
        present = _present(row, langs)
        rng.shuffle(present)
        for a, b in zip(present[0::2], present[1::2]):
            _add_pair(rows, row, a, b)
    return datasets.Dataset.from_dict(rows, features=PAIR_FEATURES)


def english_centric_pairs(
    groups: datasets.Dataset,
    pivot: str = "en",
    pool: list[str] | None = None,
    per_group: str = "all",
    seed: int = 0,
) -> datasets.Dataset:
    """En–X pairs. ``per_group="all"``: every En–X pair of the group (all translations used once,
    English repeated); ``"one"``: one X drawn uniformly from the pool languages present."""
    langs = group_languages(groups)
    if pivot not in langs:
        raise UnknownLanguageError(pivot, langs, "groups (pivot)")
    pool = pool or [lang for lang in langs if lang != pivot]
    for lang in pool:
        if lang not in langs:
            raise UnknownLanguageError(lang, langs, "groups (pool)")
    if per_group not in ("all", "one"):
        raise DataError(f"per_group must be 'all' or 'one', not {per_group!r}")
    rng = random.Random(seed)
    rows = {k: [] for k in PAIR_FEATURES}
    for row in groups:
        if row[pivot] is None:
            continue
        targets = [lang for lang in pool if row[lang] is not None and lang != pivot]
        if per_group == "one" and targets:
            targets = [rng.choice(targets)]
        for x in targets:
            _add_pair(rows, row, pivot, x)
    return datasets.Dataset.from_dict(rows, features=PAIR_FEATURES)


def _add_pair(rows: dict, row: dict, a: str, b: str) -> None:
    rows[GROUP_ID].append(row[GROUP_ID])
    rows["lang_a"].append(a)
    rows["text_a"].append(row[a])
    rows["lang_b"].append(b)
    rows["text_b"].append(row[b])


HARD_NEGATIVE_FEATURES = datasets.Features(
    {GROUP_ID: datasets.Value("string"), "lang": datasets.Value("string"), "text": datasets.Value("string")}
)


def xnli_hard_negatives(candidates: dict[str, dict[str, str]], seed: int = 0) -> datasets.Dataset:
    """``candidates[group_id][lang]`` = contradiction hypothesis; one random language per group."""
    rng = random.Random(seed)
    rows = {k: [] for k in HARD_NEGATIVE_FEATURES}
    for gid, by_lang in candidates.items():
        lang = rng.choice(sorted(by_lang))
        rows[GROUP_ID].append(gid)
        rows["lang"].append(lang)
        rows["text"].append(by_lang[lang])
    return datasets.Dataset.from_dict(rows, features=HARD_NEGATIVE_FEATURES)
