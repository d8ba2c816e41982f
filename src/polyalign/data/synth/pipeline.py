"""English sentences → machine translation (cached, resumable) → filters → multi-way groups → corpus."""

from __future__ import annotations

import logging
import time
from collections import Counter

import datasets

from ...errors import ConfigError, DataError
from ..build import corpus_meta, make_views
from ..groups import GROUP_ID, filter_groups, groups_from_rows
from .base import Translator, resolve_target
from .cache import TranslationCache, cache_key
from .filters import REASONS, FilterConfig, apply_filters, encode
from .sources import Source, clean_sources

log = logging.getLogger(__name__)


def model_id_for(translator: Translator, tgt: str) -> str:
    custom = getattr(translator, "model_id_for", None)
    return custom(tgt) if callable(custom) else translator.model_id


def translate_cached(
    texts: list[str],
    translator: Translator,
    tgt: str,
    *,
    cache: TranslationCache | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[list[str], dict]:
    """Translate ``texts`` into ``tgt`` (a backend code), reusing and filling ``cache``.

    Only sentences missing from the cache are sent to the backend, in batches of ``batch_size``
    sorted by length; each batch is committed to the cache before the next starts, so an
    interrupted run loses at most one batch. Returns (outputs in input order, stats).
    """
    cache = cache if cache is not None else TranslationCache(None)
    batch_size = batch_size or translator.default_batch_size
    model_id = model_id_for(translator, tgt)
    keys = [cache_key(t, translator.name, model_id, tgt, translator.options) for t in texts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    found = cache.get_many(list(first))
    todo = sorted((i for k, i in first.items() if k not in found), key=lambda i: (len(texts[i]), texts[i]))
    cached = len(first) - len(todo)
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(first),
        initial=cached,
        unit="sent",
        desc=desc or f"{translator.name} → {tgt}",
        disable=not progress,
        dynamic_ncols=True,
    )
    seconds = 0.0
    try:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            t0 = time.perf_counter()
            outs = translator.translate([texts[i] for i in chunk], tgt)
            seconds += time.perf_counter() - t0
            if len(outs) != len(chunk):
                raise DataError(
                    f"{translator.name} returned {len(outs)} translations for {len(chunk)} sentences"
                )
            items = [(keys[i], "" if o is None else str(o)) for i, o in zip(chunk, outs)]
            cache.put_many(items)
            found.update(items)
            bar.update(len(chunk))
    finally:
        bar.close()
    stats = {
        "sentences": len(first),
        "cached": cached,
        "translated": len(todo),
        "seconds": round(seconds, 3),
        "sentences_per_s": round(len(todo) / seconds, 1) if seconds > 0 else None,
    }
    return [found[k] for k in keys], stats


def synthesize(
    sources: list[Source],
    translator: Translator,
    langs: list[str],
    *,
    cache: TranslationCache | None = None,
    batch_size: int | None = None,
    filters: FilterConfig | None = None,
    encoder=None,
    min_langs: int = 2,
    max_chars: int | None = 1000,
    long: str = "skip",
    limit: int | None = None,
    dedup: bool = True,
    progress: bool = True,
    pivot: str = "en",
) -> tuple[datasets.Dataset, dict]:
    """Translate English ``sources`` into every language of ``langs``; return (groups, report).

    Groups have ``group_id``, ``pivot`` (the English) and one column per language (None where a
    filter dropped the translation); the report holds input counts, per-language cache/throughput
    and filter counts, and the ``FilterReport`` of the final group clean-up (duplicates, groups with
    fewer than ``min_langs`` sentences).
    """
    filters = filters or FilterConfig()
    if not langs:
        raise ConfigError("no target languages given")
    if pivot in langs:
        raise ConfigError(f"the source language {pivot!r} cannot also be a target")
    if filters.min_sim is not None and encoder is None:
        raise ConfigError("a similarity threshold needs an encoder (--sim-model)")
    resolved = {lang: resolve_target(translator, lang) for lang in langs}  # fail before any work
    clean, input_report = clean_sources(sources, max_chars=max_chars, long=long, dedup=dedup, limit=limit)
    log.info(
        "%d English sentences to translate into %s (%s)",
        len(clean),
        ", ".join(langs),
        ", ".join(f"{k}={v}" for k, v in input_report.removed.items()) or "nothing skipped",
    )
    texts = [t for _, t in clean]
    source_embeddings = None
    if encoder is not None and filters.min_sim is not None:
        log.info("encoding %d English sentences for the similarity filter", len(texts))
        source_embeddings = encode(encoder, texts)
    columns: dict[str, list[str | None]] = {}
    per_lang: dict[str, dict] = {}
    total = Counter()
    for lang, code in resolved.items():
        outputs, stats = translate_cached(
            texts,
            translator,
            code,
            cache=cache,
            batch_size=batch_size,
            progress=progress,
            desc=f"{translator.name} en→{lang}",
        )
        kept, counts = apply_filters(
            texts, outputs, filters, encoder=encoder, source_embeddings=source_embeddings
        )
        columns[lang] = kept
        total.update(counts)
        per_lang[lang] = {
            "backend_code": code,
            "model": model_id_for(translator, code),
            **stats,
            "filtered": dict(counts),
            "kept_after_filters": sum(t is not None for t in kept),
        }
        log.info(
            "en→%s: %d cached, %d translated (%s sent/s), kept %d; filtered %s",
            lang,
            stats["cached"],
            stats["translated"],
            stats["sentences_per_s"],
            per_lang[lang]["kept_after_filters"],
            {k: v for k, v in counts.items() if v},
        )
    rows = [
        {GROUP_ID: gid, pivot: text, **{lang: columns[lang][i] for lang in langs}}
        for i, (gid, text) in enumerate(clean)
    ]
    groups = groups_from_rows(rows, [pivot, *langs])
    groups, report = filter_groups(groups, min_langs=min_langs, dedup=True)
    for reason in REASONS:
        report.removed[reason] += total[reason]
    report.groups_in = len(clean)
    meta = {
        "backend": translator.name,
        "model": translator.model_id,
        "options": translator.options,
        "filters_config": {**filters.as_dict(), "min_langs": min_langs},
        "input": input_report.as_dict(),
        "languages": per_lang,
        "filter_report": report,
    }
    return groups, meta


def build_synthetic_corpus(
    sources: list[Source],
    translator: Translator,
    langs: list[str],
    *,
    seed: int = 0,
    pivot: str = "en",
    **kwargs,
) -> tuple[datasets.DatasetDict, dict]:
    """:func:`synthesize`, then the same views and meta as ``polyalign data build`` (groups, pairs,
    en_x, en_x1); save with :func:`polyalign.data.build.save_corpus`."""
    t0 = time.perf_counter()
    groups, synth = synthesize(sources, translator, langs, pivot=pivot, **kwargs)
    report = synth.pop("filter_report")
    corpus = make_views(groups, pivot=pivot, seed=seed)
    meta = corpus_meta(corpus, source="synth", report=report, seed=seed, pivot=pivot)
    synth["seconds_total"] = round(time.perf_counter() - t0, 2)
    meta["synth"] = synth
    return corpus, meta
