"""Batches that respect the method.

* A group is never split across batches and never appears twice in one global batch (a second
  copy would be a false negative).
* Batch order is a pure function of (seed, epoch), so a resumed run sees the same data order and
  every rank of a multi-GPU run agrees on the global batch without communication.
* Length-aware bucketing: the epoch's groups are cut into windows of ``bucket_batches`` global
  batches, each window is sorted by token length and split into batches, and the batches are
  shuffled — real, variable-length text then pads little.

Pair views are rebuilt from the groups every epoch: ``pairs`` draws ⌊K/2⌋ random disjoint
language pairs per K-way group (MPCL's parallel structure: the same sentences as the groups, each
once), ``en_x`` takes every pivot–X pair (the pivot sentence once per language: an ablation),
``en_x1`` pairs each pivot sentence with one X drawn from its group's other languages (the
multi-way paper's En–X baseline; the draw is a function of (seed, epoch), so a run that passes over
the data several times sees different X for the same pivot sentence). A pair batch holds as many
sentences as a group batch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from ..errors import ConfigError, DataError


@dataclass
class StepBatch:
    """What one rank encodes in one step.

    ``texts[i]`` has group ``group_ids[i]`` (a global group index). For pair batches the first half
    of ``texts`` are the x sides and the second half the y sides (``pairs = len(texts) // 2``).
    Group batches also carry ``lang_ids[i]``, the index of ``langs[i]`` in the table's languages
    (the same on every rank, so the ids can be gathered).
    """

    kind: str  # "groups" or "pairs"
    texts: list[int]  # indices into the token table
    langs: list[str]
    group_ids: torch.Tensor
    hard_texts: list[int] = field(default_factory=list)
    hard_group_ids: torch.Tensor | None = None
    lang_ids: torch.Tensor | None = None

    @property
    def n_pairs(self) -> int:
        return len(self.texts) // 2


class GroupTable:
    """Groups as integer text ids: ``members[g] = [(lang, text_id), ...]``, lengths in tokens."""

    def __init__(
        self, members: list[list[tuple[str, int]]], lengths: list[int], hard: dict[int, int] | None = None
    ):
        self.members = members
        self.lengths = lengths
        self.hard = hard or {}  # group index -> text id of its hard negative
        self.languages = sorted({lang for m in members for lang, _ in m})

    def __len__(self) -> int:
        return len(self.members)

    def group_length(self, g: int) -> int:
        return max(self.lengths[t] for _, t in self.members[g])

    def mean_size(self) -> float:
        return sum(len(m) for m in self.members) / max(len(self.members), 1)


def _rng(seed: int, epoch: int) -> random.Random:
    return random.Random(seed * 1_000_003 + epoch)


def _bucket(items: list, key, batch: int, window_batches: int, rng: random.Random) -> list[list]:
    """Shuffle, sort windows by length, cut into full batches, shuffle the batches."""
    items = list(items)
    rng.shuffle(items)
    window = max(batch * max(window_batches, 1), batch)
    batches = []
    for start in range(0, len(items), window):
        chunk = sorted(items[start : start + window], key=key)
        batches.extend(chunk[i : i + batch] for i in range(0, len(chunk), batch))
    batches = [b for b in batches if len(b) == batch]
    rng.shuffle(batches)
    return batches


class Batcher:
    """Deterministic epochs of global batches, sliced per rank."""

    def __init__(
        self,
        table: GroupTable,
        view: str,
        batch_groups: int,
        seed: int = 0,
        bucket_batches: int = 32,
        world_size: int = 1,
        rank: int = 0,
        pivot: str = "en",
        hard_negatives: bool = False,
    ):
        self.table, self.view, self.seed = table, view, seed
        self.bucket_batches, self.world_size, self.rank, self.pivot = bucket_batches, world_size, rank, pivot
        self.hard_negatives = hard_negatives
        self.local_groups = batch_groups
        # Pair batches carry as many sentences as group batches: batch_groups · K̄ / 2 pairs.
        self.local_pairs = max(1, round(batch_groups * table.mean_size() / 2))
        unit = self.local_groups if view == "groups" else self.local_pairs
        needed = unit * world_size
        if needed < 2:
            what = "group" if view == "groups" else "pair"
            raise ConfigError(
                f"one global batch holds a single {what}, so the loss has no negatives (it is 0 "
                "whatever the model does); use --batch-groups 2 or more"
            )
        available = len(table) if view == "groups" else len(self._pairs(0))
        if available < needed:
            raise DataError(
                f"the corpus has {available} {'groups' if view == 'groups' else 'pairs'} but one global batch "
                f"needs {needed}; lower --batch-groups or use more data"
            )

    def steps_per_epoch(self) -> int:
        return len(self.epoch(0))

    def epoch(self, epoch: int) -> list[list]:
        rng = _rng(self.seed, epoch)
        if self.view == "groups":
            glob = self.local_groups * self.world_size
            return _bucket(range(len(self.table)), self.table.group_length, glob, self.bucket_batches, rng)
        pairs = self._pairs(epoch)
        glob = self.local_pairs * self.world_size
        batches = _bucket(
            pairs,
            lambda p: max(self.table.lengths[p[2]], self.table.lengths[p[4]]),
            glob,
            self.bucket_batches,
            rng,
        )
        return _distinct_groups(batches, glob)

    def _pairs(self, epoch: int) -> list[tuple]:
        """(group, lang_a, text_a, lang_b, text_b) for the epoch."""
        rng = _rng(self.seed + 7919, epoch)
        out = []
        for g, members in enumerate(self.table.members):
            if self.view == "pairs":
                m = list(members)
                rng.shuffle(m)
                out.extend((g, a[0], a[1], b[0], b[1]) for a, b in zip(m[0::2], m[1::2]))
            else:  # en_x, en_x1
                piv = [t for lang, t in members if lang == self.pivot]
                xs = [(lang, t) for lang, t in members if lang != self.pivot]
                if piv and xs:
                    if self.view == "en_x1":
                        xs = [rng.choice(xs)]
                    out.extend((g, self.pivot, piv[0], lang, t) for lang, t in xs)
        return out

    def local_batch(self, global_batch: list) -> StepBatch:
        """This rank's slice of a global batch, flattened into texts + group ids."""
        unit = self.local_groups if self.view == "groups" else self.local_pairs
        mine = global_batch[self.rank * unit : (self.rank + 1) * unit]
        if self.view == "groups":
            texts, langs, gids = [], [], []
            hard_texts, hard_gids = [], []
            lang_index = {lang: i for i, lang in enumerate(self.table.languages)}
            for g in mine:
                for lang, t in self.table.members[g]:
                    texts.append(t)
                    langs.append(lang)
                    gids.append(g)
                if self.hard_negatives and g in self.table.hard:
                    hard_texts.append(self.table.hard[g])
                    hard_gids.append(g)
            return StepBatch(
                "groups",
                texts,
                langs,
                torch.tensor(gids),
                hard_texts,
                torch.tensor(hard_gids, dtype=torch.long) if hard_texts else None,
                torch.tensor([lang_index[lang] for lang in langs], dtype=torch.long),
            )
        xs = [p[2] for p in mine]
        ys = [p[4] for p in mine]
        langs = [p[1] for p in mine] + [p[3] for p in mine]
        gids = [p[0] for p in mine]
        return StepBatch("pairs", xs + ys, langs, torch.tensor(gids + gids))


def _distinct_groups(batches: list[list], size: int) -> list[list]:
    """Move pairs whose group already sits in a batch to a later batch (no false negatives)."""
    out, carry = [], []
    for batch in batches:
        pool = carry + batch
        seen, cur, carry = set(), [], []
        for p in pool:
            if p[0] in seen or len(cur) == size:
                carry.append(p)
            else:
                seen.add(p[0])
                cur.append(p)
        if len(cur) == size:
            out.append(cur)
        else:
            carry = cur + carry
    return out


def one_pair_per_group(batch: StepBatch, rng: random.Random) -> StepBatch:
    """Loss warm-up on a group batch: one random language pair per group (pairs from distinct groups)."""
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(batch.group_ids.tolist()):
        by_group.setdefault(g, []).append(i)
    xs, ys, lx, ly, gids = [], [], [], [], []
    for g, idx in by_group.items():
        if len(idx) < 2:
            continue
        i, j = rng.sample(idx, 2)
        xs.append(batch.texts[i])
        ys.append(batch.texts[j])
        lx.append(batch.langs[i])
        ly.append(batch.langs[j])
        gids.append(g)
    return StepBatch("pairs", xs + ys, lx + ly, torch.tensor(gids + gids))
