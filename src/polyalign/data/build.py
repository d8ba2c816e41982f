"""Build a training corpus on disk: groups plus the baseline views, as one ``DatasetDict``.

Layout written by :func:`save_corpus` (``datasets.DatasetDict.save_to_disk``)::

    OUT/groups/          multi-way groups (group_id + one column per language)
    OUT/pairs/           MPCL parallel-structure pairs (group_id, lang_a, text_a, lang_b, text_b)
    OUT/en_x/            English-centric pairs (same schema), every pivot–X pair, when the pivot is present
    OUT/en_x1/           English-centric pairs, one X drawn per pivot sentence (the multi-way paper's
                         En–X baseline; the trainer redraws this view every epoch from the groups)
    OUT/hard_negatives/  (XNLI) group_id, lang, text — contradiction of the group's premise
    OUT/polyalign_corpus.json   source, languages, counts, filter report
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import datasets

from ..errors import DataError, UnknownLanguageError
from ..io import atomic_path, prepare_output, write_marker
from ..langs import same_language
from . import readers
from .groups import (
    GROUP_ID,
    FilterReport,
    filter_groups,
    group_languages,
    groups_from_aligned,
    groups_from_rows,
    language_counts,
    pivot_join,
)
from .views import english_centric_pairs, parallel_pairs, xnli_hard_negatives

log = logging.getLogger(__name__)
META_FILE = "polyalign_corpus.json"


@dataclass
class FilterOptions:
    min_langs: int = 2
    dedup: bool = True
    max_length_ratio: float | None = None


def xnli_groups(data_dir=None, langs=None, splits=("dev", "test")) -> tuple[datasets.Dataset, dict]:
    """XNLI as MPCL uses it: every sentence is its own group — premises deduplicated (each premise
    has three hypotheses), hypotheses kept. Returns (groups, {premise_group_id: {lang: contradiction}})."""
    langs = langs or readers.XNLI_LANGS
    rows, hard = [], {}
    for split in splits:
        examples = readers.read_xnli(data_dir, langs, splits=(split,))
        codes = list(examples[0].premise) if examples else []
        premise_ids: dict[str, str] = {}
        for i, ex in enumerate(examples):
            key = "\x1f".join(ex.premise[c] for c in codes)
            if key not in premise_ids:
                premise_ids[key] = f"xnli-{split}-p{len(premise_ids):05d}"
                rows.append({GROUP_ID: premise_ids[key], **ex.premise})
            rows.append({GROUP_ID: f"xnli-{split}-h{i:05d}", **ex.hypothesis})
            if ex.label == "contradiction":
                hard.setdefault(premise_ids[key], dict(ex.hypothesis))
    if not rows:
        raise DataError("XNLI produced no sentences")
    return groups_from_rows(rows, list(examples[0].premise)), hard


def build_corpus(
    source: str,
    *,
    data_dir=None,
    langs: list[str] | None = None,
    pivot: str = "en",
    seed: int = 0,
    filters: FilterOptions | None = None,
    split: str | None = None,
    files: list[str] | None = None,
    hf_name: str | None = None,
) -> tuple[datasets.DatasetDict, dict]:
    """Read a source, build groups, filter, derive the views. Returns (corpus, meta)."""
    filters = filters or FilterOptions()
    hard = None
    if source == "xnli":
        splits = tuple(split.split(",")) if split else ("dev", "test")
        groups, hard = xnli_groups(data_dir, langs, splits)
    elif source == "flores":
        texts = readers.read_flores(data_dir, split or "dev", langs)
        groups = groups_from_aligned(texts, prefix=f"flores-{split or 'dev'}")
    elif source == "tatoeba":
        # Tatoeba's English sides differ per pair: join on identical English.
        langs = langs or readers.tatoeba_languages(data_dir)
        bitexts = {}
        for lang in langs:
            if lang in ("en", "eng"):
                continue
            src, eng = readers.read_tatoeba_pair(data_dir, lang)
            bitexts[lang] = list(zip(eng, src))
        groups = pivot_join(bitexts, pivot="eng", prefix="tatoeba")
        pivot = "eng"
    elif source == "bitext":
        # files: "src_lang:tgt_lang:path" — the pivot language must be one side of each file.
        bitexts = {}
        pivot_code = None  # the pivot as the files spell it (`eng` for --pivot en)
        for spec in files or []:
            try:
                a, b, path = spec.split(":", 2)
            except ValueError:
                raise DataError(f"bitext file spec must be SRC:TGT:PATH, got {spec!r}") from None
            pairs = readers.read_bitext(path, a, b)
            if same_language(a, pivot) and not same_language(b, pivot):
                pivot_code = pivot_code or a
                bitexts[b] = pairs
            elif same_language(b, pivot) and not same_language(a, pivot):
                pivot_code = pivot_code or b
                bitexts[a] = [(y, x) for x, y in pairs]
            else:
                raise DataError(f"exactly one side of {path} must be the pivot language {pivot!r}")
        if not bitexts:
            raise DataError("no bitext files given (use --file SRC:TGT:PATH)")
        pivot = pivot_code
        groups = pivot_join(bitexts, pivot=pivot, prefix="bitext")
    elif source == "hf":
        ds = readers.load_hf(hf_name, split)
        cols = [c for c in ds.column_names if c != GROUP_ID]
        use = langs or cols
        missing = [c for c in use if c not in ds.column_names]
        if missing:
            raise DataError(f"{hf_name}: no column(s) {missing}; columns: {ds.column_names}")
        ids = ds[GROUP_ID] if GROUP_ID in ds.column_names else [f"hf-{i}" for i in range(len(ds))]
        groups = groups_from_rows(({GROUP_ID: g, **{c: r[c] for c in use}} for g, r in zip(ids, ds)), use)
    else:
        raise DataError(f"unknown source {source!r}; choose xnli, flores, tatoeba, bitext or hf")
    pivot = _corpus_pivot(pivot, group_languages(groups))

    groups, report = filter_groups(
        groups,
        min_langs=filters.min_langs,
        dedup=filters.dedup,
        max_length_ratio=filters.max_length_ratio,
        ratio_reference=pivot,
    )
    corpus = make_views(groups, pivot=pivot, seed=seed, hard_candidates=hard)
    meta = corpus_meta(corpus, source=source, report=report, seed=seed, pivot=pivot)
    return corpus, meta


def _corpus_pivot(pivot: str, langs: list[str]) -> str:
    """The corpus' own code for the pivot (``en`` → ``eng_Latn`` in FLORES), through
    :func:`polyalign.langs.canonical`; without it there is no En–X view, which is worth saying."""
    try:
        return readers.resolve_code(pivot, langs)
    except UnknownLanguageError:
        log.warning("pivot %r is not among the languages %s: the corpus gets no en_x view", pivot, langs)
        return pivot


def make_views(
    groups: datasets.Dataset, pivot: str = "en", seed: int = 0, hard_candidates: dict | None = None
) -> datasets.DatasetDict:
    views = {"groups": groups, "pairs": parallel_pairs(groups, seed=seed)}
    if pivot in group_languages(groups):
        views["en_x"] = english_centric_pairs(groups, pivot=pivot, seed=seed)
        views["en_x1"] = english_centric_pairs(groups, pivot=pivot, per_group="one", seed=seed)
    # A one-language corpus (e.g. the English input of `polyalign synth`) has no pairs; an empty
    # split would not load back, so it is left out.
    views = {name: ds for name, ds in views.items() if name == "groups" or len(ds)}
    if hard_candidates:
        kept = set(groups[GROUP_ID])
        langs = set(group_languages(groups))
        cands = {
            g: {k: v for k, v in by.items() if k in langs} for g, by in hard_candidates.items() if g in kept
        }
        views["hard_negatives"] = xnli_hard_negatives({g: c for g, c in cands.items() if c}, seed=seed)
    return datasets.DatasetDict(views)


def corpus_meta(
    corpus: datasets.DatasetDict, *, source: str, report: FilterReport | None, seed: int, pivot: str
) -> dict:
    groups = corpus["groups"]
    return {
        "source": source,
        "languages": group_languages(groups),
        "pivot": pivot,
        "seed": seed,
        "counts": {name: len(ds) for name, ds in corpus.items()},
        "sentences_per_language": language_counts(groups),
        "filters": report.as_dict() if report else None,
    }


def save_corpus(
    corpus: datasets.DatasetDict, out: str | Path, meta: dict | None = None, *, overwrite: bool = False
) -> Path:
    """Atomic: the folder appears complete or not at all. An existing ``out`` is replaced only when
    it is a corpus polyalign wrote and ``overwrite`` is set (see :func:`polyalign.io.prepare_output`)."""
    out = Path(out)
    prepare_output(out, "corpus", overwrite=overwrite, create=False)
    with atomic_path(out, is_dir=True) as tmp:
        corpus.save_to_disk(str(tmp))
        (tmp / META_FILE).write_text(json.dumps(meta or {}, indent=2, ensure_ascii=False), encoding="utf-8")
        write_marker(tmp, "corpus")
    return out


def load_corpus(path: str | Path) -> datasets.DatasetDict:
    """A folder from :func:`save_corpus` (or a bare groups ``Dataset`` folder, wrapped)."""
    path = Path(path)
    if not path.exists():
        raise DataError("corpus folder not found (build one with `polyalign data build`)", path)
    try:
        ds = datasets.load_from_disk(str(path))
    except FileNotFoundError as e:
        raise DataError(f"not a saved dataset: {e}", path) from None
    if isinstance(ds, datasets.Dataset):
        if GROUP_ID in ds.column_names and "text_a" not in ds.column_names:
            return datasets.DatasetDict({"groups": ds})
        return datasets.DatasetDict({"pairs": ds})
    return ds


def load_meta(path: str | Path) -> dict:
    p = Path(path) / META_FILE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
