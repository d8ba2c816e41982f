"""Multi-way groups: one row per meaning, ``group_id`` plus one column per language (text or None).

This is the unit MPCL trains on: a group is never split across a batch, and every member of a group
is a positive for every other member. Groups are Hugging Face ``datasets.Dataset`` objects.

Schema of a groups dataset::

    group_id: string            unique per meaning, e.g. "xnli-dev-000042"
    <lang>:   string or None    one column per language code (codes as given by the source)
"""

from __future__ import annotations

import logging
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import datasets

from ..errors import DataError, UnknownLanguageError

log = logging.getLogger(__name__)

GROUP_ID = "group_id"


def group_languages(ds: datasets.Dataset) -> list[str]:
    return [c for c in ds.column_names if c != GROUP_ID]


def groups_from_aligned(texts: dict[str, list[str]], prefix: str = "g") -> datasets.Dataset:
    """Line-aligned multi-way text → groups. Line i of every language is one group."""
    if not texts:
        raise DataError("no languages given")
    n = len(next(iter(texts.values())))
    if any(len(v) != n for v in texts.values()):
        raise DataError("aligned texts must have the same number of lines per language")
    width = len(str(max(n - 1, 0)))
    data = {GROUP_ID: [f"{prefix}-{i:0{width}d}" for i in range(n)]}
    for lang, lines in texts.items():
        data[lang] = list(lines)  # empty lines stay; filter_groups counts and drops them
    return datasets.Dataset.from_dict(data, features=_features(list(texts)))


def groups_from_rows(rows: Iterable[dict], langs: list[str]) -> datasets.Dataset:
    rows = list(rows)
    data = {GROUP_ID: [r[GROUP_ID] for r in rows]}
    for lang in langs:
        data[lang] = [r.get(lang) for r in rows]
    return datasets.Dataset.from_dict(data, features=_features(langs))


def pivot_join(
    bitexts: dict[str, list[tuple[str, str]]], pivot: str = "en", prefix: str = "pivot"
) -> datasets.Dataset:
    """Join bilingual pivot–X corpora into groups through identical pivot sentences.

    ``bitexts[x]`` is a list of ``(pivot_sentence, x_sentence)``. Sentences that share the exact
    same pivot text (after Unicode NFC and whitespace normalisation) become one group; when one
    corpus has several translations of one pivot sentence, the first is kept.
    """
    by_pivot: dict[str, dict[str, str]] = {}
    for lang, pairs in bitexts.items():
        if lang == pivot:
            raise DataError(f"bitext language {lang!r} equals the pivot")
        for piv, text in pairs:
            key = _norm(piv)
            if not key or not text.strip():
                continue
            slot = by_pivot.setdefault(key, {pivot: piv})
            slot.setdefault(lang, text)
    langs = [pivot] + list(bitexts)
    width = len(str(max(len(by_pivot) - 1, 0)))
    rows = [{GROUP_ID: f"{prefix}-{i:0{width}d}", **g} for i, g in enumerate(by_pivot.values())]
    return groups_from_rows(rows, langs)


@dataclass
class FilterReport:
    """How many groups/sentences each filter removed (printed by ``polyalign data build``)."""

    groups_in: int = 0
    groups_out: int = 0
    removed: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"groups_in": self.groups_in, "groups_out": self.groups_out, "removed": dict(self.removed)}


def filter_groups(
    ds: datasets.Dataset,
    langs: list[str] | None = None,
    min_langs: int = 2,
    dedup: bool = True,
    max_length_ratio: float | None = None,
    ratio_reference: str | None = None,
) -> tuple[datasets.Dataset, FilterReport]:
    """Clean groups.

    - ``langs``: keep only these language columns (unknown code → error listing the available ones);
    - empty / whitespace-only texts become None;
    - ``dedup``: a sentence already seen in the same language drops from later groups (duplicates
      across groups would be false negatives in a batch);
    - ``max_length_ratio``: a translation whose character length differs from the reference
      language's by more than this factor is dropped (reference: ``ratio_reference`` or the first
      language present);
    - ``min_langs``: groups with fewer present translations are removed.
    """
    available = group_languages(ds)
    if langs:
        for lang in langs:
            if lang not in available:
                raise UnknownLanguageError(lang, available, "groups")
        ds = ds.select_columns([GROUP_ID, *langs])
    keep_langs = group_languages(ds)
    report = FilterReport(groups_in=len(ds))
    seen: dict[str, set[str]] = {lang: set() for lang in keep_langs}
    rows = []
    for row in ds:
        out = {GROUP_ID: row[GROUP_ID]}
        for lang in keep_langs:
            text = row[lang]
            if text is not None and not text.strip():
                report.removed["empty"] += 1
                text = None
            if text is not None and dedup:
                key = _norm(text)
                if key in seen[lang]:
                    report.removed["duplicate"] += 1
                    text = None
                else:
                    seen[lang].add(key)
            out[lang] = text
        if max_length_ratio:
            ref = ratio_reference if ratio_reference in keep_langs and out.get(ratio_reference) else None
            ref = ref or next((lang for lang in keep_langs if out[lang]), None)
            if ref:
                ref_len = max(len(out[ref]), 1)
                for lang in keep_langs:
                    if lang != ref and out[lang] is not None:
                        r = max(len(out[lang]), 1) / ref_len
                        if r > max_length_ratio or r < 1 / max_length_ratio:
                            report.removed["length_ratio"] += 1
                            out[lang] = None
        present = sum(out[lang] is not None for lang in keep_langs)
        if present < min_langs:
            report.removed["groups_below_min_langs"] += 1
            continue
        rows.append(out)
    report.groups_out = len(rows)
    if not rows:
        raise DataError(f"no groups left after filtering ({report.as_dict()['removed']}); relax the filters")
    return groups_from_rows(rows, keep_langs), report


def language_counts(ds: datasets.Dataset) -> dict[str, int]:
    return {lang: sum(t is not None for t in ds[lang]) for lang in group_languages(ds)}


def sample_groups(ds: datasets.Dataset, n: int, seed: int = 0) -> datasets.Dataset:
    idx = list(range(len(ds)))
    random.Random(seed).shuffle(idx)
    return ds.select(sorted(idx[:n]))


def _features(langs: list[str]) -> datasets.Features:
    return datasets.Features(
        {GROUP_ID: datasets.Value("string"), **{lang: datasets.Value("string") for lang in langs}}
    )


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
