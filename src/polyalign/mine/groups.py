"""Multi-way groups from mined pairs, joined through the pivot.

Each language's mined pairs link one of its sentences to one pivot sentence. A group is one pivot
sentence plus, per language, the sentence mined for it; every sentence is in at most one group:
pairs are taken best first, and a pair whose pivot sentence already has a partner in that language
(possible with the ``forward`` strategy) or whose sentence is already placed is dropped and counted
(``pivot_taken``). Near-duplicate groups (:func:`polyalign.mine.filters.near_duplicate_key` of the
pivot sentence) keep only the group with the most languages, then the highest mean score.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..data.groups import GROUP_ID
from .filters import near_duplicate_key


@dataclass
class JoinedGroups:
    rows: list[dict]  # {group_id, pivot, lang...} ready for groups_from_rows
    scores: list[dict[str, float]]  # per group: {lang: margin score}
    removed: Counter = field(default_factory=Counter)  # pivot_taken per language, near_duplicate

    @property
    def n_complete(self) -> int:
        return sum(all(v is not None for k, v in r.items() if k != GROUP_ID) for r in self.rows)


def join_through_pivot(
    pivot: str,
    pivot_texts: list[str],
    pairs: dict[str, list[tuple[int, int, float]]],
    texts: dict[str, list[str]],
    prefix: str = "mine",
) -> JoinedGroups:
    """``pairs[lang]``: ``(pivot_index, lang_index, score)`` kept for that language."""
    removed: Counter = Counter()
    members: dict[int, dict[str, tuple[int, float]]] = {}
    for lang, lang_pairs in pairs.items():
        used_lang: set[int] = set()
        for p, j, score in sorted(lang_pairs, key=lambda t: -t[2]):
            slot = members.setdefault(p, {})
            if lang in slot or j in used_lang:
                removed[f"pivot_taken:{lang}"] += 1
                continue
            slot[lang] = (j, score)
            used_lang.add(j)
    # Near-duplicate pivot sentences: keep the fullest, then best-scoring group.
    best_by_key: dict[str, int] = {}

    def rank(p: int) -> tuple[int, float]:
        m = members[p]
        return len(m), sum(s for _, s in m.values()) / len(m)

    keep: list[int] = []
    for p in sorted(members):
        if not members[p]:
            continue
        key = near_duplicate_key(pivot_texts[p])
        if not key:
            keep.append(p)
            continue
        other = best_by_key.get(key)
        if other is not None:
            removed["near_duplicate"] += 1
            if rank(p) <= rank(other):
                continue
        best_by_key[key] = p
    keep += best_by_key.values()
    keep.sort()
    langs = list(pairs)
    width = len(str(max(len(keep) - 1, 0)))
    rows, scores = [], []
    for g, p in enumerate(keep):
        m = members[p]
        row = {GROUP_ID: f"{prefix}-{g:0{width}d}", pivot: pivot_texts[p]}
        for lang in langs:
            row[lang] = texts[lang][m[lang][0]] if lang in m else None
        rows.append(row)
        scores.append({lang: m[lang][1] for lang in langs if lang in m})
    return JoinedGroups(rows, scores, removed)
