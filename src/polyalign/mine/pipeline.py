"""``polyalign mine`` as an API: monolingual files in, mined pairs and multi-way groups out.

Steps: read each file (strict UTF-8), strip, drop empty lines, duplicates and sentences in the
wrong script (:mod:`.filters`, counted); embed each language once (:mod:`.embed`, float16 shards,
resumable); k-NN both ways between each language and the pivot and LASER's ratio margin
(:mod:`.score`); a strategy; a threshold; pair filters; groups joined through the pivot
(:mod:`.groups`). Each language is the *source* and the pivot the *target* (as BUCC's ``de-en``):
``forward`` gives every sentence of the language its best pivot sentence.

Threshold per language: the F1-best one on that language's dev gold (``dev_gold``) when given;
else ``MineConfig.threshold`` when set; else the mean of the dev-tuned ones of the other languages
when any; else :data:`DEFAULT_THRESHOLD`. Pairs scoring ``>=`` it are kept.

Outputs (:func:`write_outputs`, one atomic folder, marker kind ``mine``)::

    OUT/pairs/<pivot>-<lang>.tsv   pivot_text <TAB> lang_text <TAB> score, best first
    OUT/corpus/                    a polyalign corpus (groups, pairs, en_x views): `polyalign train --data OUT/corpus`
    OUT/mine.json                  settings, thresholds and where they came from, counts of every filter
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError
from ..io import atomic_path, prepare_output, read_lines, write_marker
from ..langs import canonical, expected_script
from . import filters
from .defaults import DEFAULT_THRESHOLD as DEFAULT_THRESHOLD  # re-exported
from .embed import DEFAULT_SHARD_SIZE, embed_sentences, rank_world
from .score import (
    APPROX_ABOVE,
    BACKENDS,
    DEFAULT_EF_SEARCH,
    DEFAULT_NPROBE,
    STRATEGIES,
    best_threshold,
    choose_backend,
    f1_at_threshold,
    mine_neighbours,
    neighbours,
)

log = logging.getLogger(__name__)

META_FILE = "mine.json"


@dataclass
class MineConfig:
    k: int = 4
    strategy: str = "max"
    threshold: float | None = None
    backend: str = "auto"
    approx_above: int | None = APPROX_ABOVE
    nprobe: int = DEFAULT_NPROBE
    ef_search: int = DEFAULT_EF_SEARCH
    batch_size: int = 32
    shard_size: int = DEFAULT_SHARD_SIZE
    cache_dir: str | None = None  # None: <polyalign cache>/embeddings/mine
    use_cache: bool = True
    max_length_ratio: float | None = filters.DEFAULT_MAX_LENGTH_RATIO
    script_check: bool = True
    min_script_share: float = filters.DEFAULT_MIN_SCRIPT_SHARE
    device: str | None = None
    seed: int = 0
    show_progress: bool | None = None

    def validate(self) -> MineConfig:
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, not {self.k}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r} ({', '.join(STRATEGIES)})")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r} ({', '.join(BACKENDS)})")
        if self.batch_size < 1 or self.shard_size < 1:
            raise ConfigError("batch size and shard size must be >= 1")
        if self.max_length_ratio is not None and self.max_length_ratio < 1:
            raise ConfigError(f"max length ratio must be >= 1, not {self.max_length_ratio}")
        if not 0 <= self.min_script_share <= 1:
            raise ConfigError(f"min script share must be in [0, 1], not {self.min_script_share}")
        if self.approx_above is not None and self.approx_above < 1:
            raise ConfigError(f"approx_above must be >= 1, not {self.approx_above}")
        if self.backend.startswith("faiss"):
            choose_backend(self.backend, 1, 1)  # faiss asked for but absent: say so before encoding
        return self


@dataclass
class Sentences:
    """One language's sentences after cleaning, with their line numbers (1-based) in the file."""

    lang: str
    texts: list[str]
    lines: list[int]
    index_of_line: dict[int, int]  # every non-removed line (duplicates -> first occurrence)
    n_lines: int
    counts: Counter = field(default_factory=Counter)
    path: Path | None = None

    @property
    def where(self) -> str:
        return str(self.path) if self.path else self.lang


def prepare_sentences(
    lang: str,
    lines: list[str],
    path: Path | None = None,
    script_check: bool = True,
    min_script_share: float = filters.DEFAULT_MIN_SCRIPT_SHARE,
) -> Sentences:
    """Strip, drop empty / duplicate / wrong-script lines (counted). Tabs become spaces (the
    outputs are TSV)."""
    where = path if path is not None else lang
    if not lines:
        raise DataError("file is empty: no sentences to mine", where)
    script = expected_script(lang) if script_check else None
    texts, kept_lines, index_of_line, seen = [], [], {}, {}
    counts: Counter = Counter(lines=len(lines), empty=0, duplicate=0, script=0)
    for n, raw in enumerate(lines, start=1):
        text = raw.strip().replace("\t", " ")
        if not text:
            counts["empty"] += 1
            continue
        key = filters.norm(text)
        if key in seen:
            counts["duplicate"] += 1
            index_of_line[n] = seen[key]
            continue
        if filters.wrong_script(text, script, min_script_share):
            counts["script"] += 1
            continue
        seen[key] = len(texts)
        index_of_line[n] = len(texts)
        texts.append(text)
        kept_lines.append(n)
    counts["sentences"] = len(texts)
    if not texts:
        raise DataError(
            f"no {lang} sentences left after removing {counts['empty']} empty lines, "
            f"{counts['duplicate']} duplicates and {counts['script']} not in the {script} script",
            where,
        )
    return Sentences(lang, texts, kept_lines, index_of_line, len(lines), counts, path)


def read_sentences(lang: str, path, config: MineConfig | None = None) -> Sentences:
    config = config or MineConfig()
    path = Path(path)
    return prepare_sentences(lang, read_lines(path), path, config.script_check, config.min_script_share)


def read_gold(path, pivot: Sentences, lang: Sentences) -> tuple[set[tuple[int, int]], int]:
    """A dev gold file: ``pivot_line<TAB>lang_line`` (1-based line numbers of the two input files).
    Returns ({(pivot_index, lang_index)}, pairs dropped because a cleaning step removed a side).
    A line number outside a file, or anything but two numbers, is an error naming file:line."""
    path = Path(path)
    gold, dropped = set(), 0
    for i, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        cells = line.strip().split("\t")
        if len(cells) != 2 or not all(c.strip().isdigit() for c in cells):
            raise DataError("expected pivot_line<TAB>lang_line (two line numbers)", path, i)
        numbers = (int(cells[0]), int(cells[1]))
        for side, n in zip((pivot, lang), numbers):
            if not 1 <= n <= side.n_lines:
                raise DataError(
                    f"{side.lang} line {n} is not in {side.where} ({side.n_lines} lines)", path, i
                )
        p, q = pivot.index_of_line.get(numbers[0]), lang.index_of_line.get(numbers[1])
        if p is None or q is None:
            dropped += 1  # an empty or wrong-script line: not minable
            continue
        gold.add((p, q))
    if not gold:
        raise DataError("no usable gold pairs", path)
    return gold, dropped


def _lang_key(code: str) -> tuple[str, str | None]:
    return canonical(code), expected_script(code)


def check_languages(pivot: str, langs: list[str]) -> None:
    if not pivot:
        raise ConfigError("give the pivot language and file: --pivot LANG:FILE (e.g. eng:en.txt)")
    if not langs:
        raise ConfigError("give at least one language to mine: --lang LANG:FILE")
    seen: dict[tuple, str] = {_lang_key(pivot): pivot}
    for code in langs:
        if _lang_key(code) in seen:
            raise ConfigError(
                f"language {code!r} given twice (as {seen[_lang_key(code)]!r}); one file per language"
            )
        seen[_lang_key(code)] = code


@dataclass
class LanguageResult:
    lang: str
    pairs: list[tuple[int, int, float]]  # kept: (pivot_index, lang_index, score), best first
    threshold: float
    threshold_source: str
    counts: Counter
    dev: dict | None = None
    backend: str = ""
    search_seconds: float = 0.0


@dataclass
class MineResult:
    pivot: Sentences
    langs: dict[str, Sentences]
    results: dict[str, LanguageResult]
    groups: object  # JoinedGroups
    meta: dict

    def pair_texts(self, lang: str) -> list[tuple[str, str, float]]:
        sents = self.langs[lang]
        return [(self.pivot.texts[p], sents.texts[j], s) for p, j, s in self.results[lang].pairs]


def mine_texts(
    model,
    pivot: Sentences,
    langs: list[Sentences],
    config: MineConfig | None = None,
    gold: dict[str, set[tuple[int, int]]] | None = None,
) -> MineResult | None:
    """Mine prepared sentences (see :func:`prepare_sentences`); ``model`` has ``encode(list[str])``.
    Under torchrun every rank encodes its shards and only rank 0 searches: the others return None."""
    from ..eval.encode import Encoder, default_cache_dir
    from .groups import join_through_pivot

    config = (config or MineConfig()).validate()
    check_languages(pivot.lang, [s.lang for s in langs])
    gold = gold or {}
    unknown = sorted(set(gold) - {s.lang for s in langs})
    if unknown:
        raise ConfigError(f"dev gold for {', '.join(unknown)}, which is not mined (--lang)")
    cache = None
    if config.use_cache:
        cache = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir() / "mine"
    encoder = (
        model if isinstance(model, Encoder) else Encoder(model, batch_size=config.batch_size, use_cache=False)
    )
    timing: dict[str, float] = {}

    def embed(s: Sentences):
        t0 = time.perf_counter()
        emb = embed_sentences(
            encoder,
            s.texts,
            cache,
            config.shard_size,
            config.batch_size,
            desc=f"encoding {s.lang}",
            show_progress=config.show_progress,
        )
        timing[f"encode_{s.lang}"] = round(time.perf_counter() - t0, 3)
        return emb

    rank, _ = rank_world()
    pivot_emb = embed(pivot)
    raw: dict[str, list] = {}
    results: dict[str, LanguageResult] = {}
    for s in langs:
        emb = embed(s)
        if rank != 0:
            continue  # under torchrun rank 0 alone searches (see .embed)
        t0 = time.perf_counter()
        nb = neighbours(
            emb,
            pivot_emb,
            config.k,
            backend=config.backend,
            device=config.device,
            approx_above=config.approx_above,
            nprobe=config.nprobe,
            ef_search=config.ef_search,
        )
        mined = mine_neighbours(nb, config.strategy)
        elapsed = time.perf_counter() - t0
        raw[s.lang] = [(p.tgt, p.src, p.score) for p in mined]  # (pivot, lang, score)
        results[s.lang] = LanguageResult(
            s.lang, [], 0.0, "", Counter(candidates=len(mined)), None, nb.backend, elapsed
        )
        log.info("%s: %d candidate pairs in %.1f s (%s)", s.lang, len(mined), elapsed, nb.backend)
    if rank != 0:
        return None

    tuned = {}
    for lang, g in gold.items():
        if not any((p, j) in g for p, j, _ in raw[lang]):
            # BUCC's bucc_optimize falls back to threshold 0 here, which for mining would keep
            # every candidate: a dev gold that matches nothing is a mistake to report, not tune on.
            raise DataError(
                f"--dev-gold {lang}: none of its {len(g)} pairs is among the {len(raw[lang])} mined "
                "candidates, so no threshold can be tuned on it (wrong file or languages?)"
            )
        tuned[lang] = best_threshold(raw[lang], g)
        results[lang].dev = f1_at_threshold(raw[lang], g, tuned[lang])
    for s in langs:
        r = results[s.lang]
        if s.lang in tuned:
            r.threshold, r.threshold_source = tuned[s.lang], "dev"
        elif config.threshold is not None:
            r.threshold, r.threshold_source = config.threshold, "given"
        elif tuned:
            r.threshold, r.threshold_source = sum(tuned.values()) / len(tuned), "dev-mean"
        else:
            r.threshold, r.threshold_source = DEFAULT_THRESHOLD, "default"
        c = r.counts
        c.update({"below_threshold": 0, "identical": 0, "length_ratio": 0})
        for p, j, score in raw[s.lang]:
            if score < r.threshold:
                c["below_threshold"] += 1
                continue
            reason = filters.pair_reason(pivot.texts[p], s.texts[j], config.max_length_ratio)
            if reason:
                c[reason] += 1
                continue
            r.pairs.append((p, j, score))
        c["kept"] = len(r.pairs)

    if not any(r.pairs for r in results.values()):
        shown = ", ".join(f"{r.lang} {r.threshold:.3f}" for r in results.values())
        raise DataError(f"no pair scored above the threshold ({shown}); nothing to write — lower --threshold")
    joined = join_through_pivot(
        pivot.lang,
        pivot.texts,
        {lang: r.pairs for lang, r in results.items()},
        {s.lang: s.texts for s in langs},
    )
    meta = _meta(encoder, pivot, langs, results, joined, config, timing)
    return MineResult(pivot, {s.lang: s for s in langs}, results, joined, meta)


def _meta(encoder, pivot, langs, results, joined, config, timing) -> dict:
    per_lang = {}
    for s in langs:
        r = results[s.lang]
        per_lang[s.lang] = {
            "file": str(s.path) if s.path else None,
            "sentences": dict(s.counts),
            "pairs": dict(r.counts),
            "threshold": r.threshold,
            "threshold_source": r.threshold_source,
            "dev": r.dev,
            "search_backend": r.backend,
            "search_seconds": round(r.search_seconds, 3),
            "in_groups": sum(row[s.lang] is not None for row in joined.rows),
            "pivot_taken": joined.removed.get(f"pivot_taken:{s.lang}", 0),
        }
    settings = asdict(config)
    settings.pop("show_progress", None)
    return {
        "model": encoder.name,
        "model_fingerprint": encoder.fingerprint,
        "prompt": encoder.prompt,
        "pivot": {
            "lang": pivot.lang,
            "file": str(pivot.path) if pivot.path else None,
            "sentences": dict(pivot.counts),
        },
        "languages": per_lang,
        "groups": {
            "groups": len(joined.rows),
            "complete": joined.n_complete,
            "near_duplicate_removed": joined.removed.get("near_duplicate", 0),
        },
        "settings": settings,
        "default_threshold": DEFAULT_THRESHOLD,
        "timing_seconds": timing,
    }


def write_outputs(result: MineResult, out, *, overwrite: bool = False) -> Path:
    """Write pairs, corpus and metadata as one atomic folder (see the module docstring)."""
    from ..data.build import corpus_meta, make_views, save_corpus
    from ..data.groups import FilterReport, groups_from_rows

    out = Path(out)
    prepare_output(out, "mine", overwrite=overwrite, create=False)
    pivot = result.pivot.lang
    langs = list(result.results)
    groups = groups_from_rows(result.groups.rows, [pivot, *langs])
    corpus = make_views(groups, pivot=pivot, seed=result.meta["settings"]["seed"])
    removed = Counter()
    for lang in langs:
        info = result.meta["languages"][lang]
        for key in ("empty", "duplicate", "script"):
            removed[f"{key}:{lang}"] = info["sentences"].get(key, 0)
        for key in ("below_threshold", "identical", "length_ratio"):
            removed[f"{key}:{lang}"] = info["pairs"].get(key, 0)
    removed.update(result.groups.removed)
    report = FilterReport(
        groups_in=len(groups) + result.groups.removed.get("near_duplicate", 0),
        groups_out=len(groups),
        removed=removed,
    )
    cmeta = corpus_meta(
        corpus, source="mine", report=report, seed=result.meta["settings"]["seed"], pivot=pivot
    )
    cmeta["mining"] = result.meta
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "pairs").mkdir()
        for lang in langs:
            with open(tmp / "pairs" / f"{pivot}-{lang}.tsv", "w", encoding="utf-8") as f:
                for a, b, score in result.pair_texts(lang):
                    # A tab inside a sentence would add a column: the TSV shows it as a space.
                    f.write(f"{a.replace(chr(9), ' ')}\t{b.replace(chr(9), ' ')}\t{score:.6f}\n")
        save_corpus(corpus, tmp / "corpus", cmeta)
        (tmp / META_FILE).write_text(
            json.dumps(result.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        write_marker(tmp, "mine")
    return out


def init_distributed() -> tuple[int, int]:
    """Join the process group torchrun describes (``WORLD_SIZE > 1``); (rank, world)."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_world()


def _device(device: str | None) -> str | None:
    """Under torchrun each rank encodes on its own GPU (LOCAL_RANK) unless a device is given."""
    if device is None and rank_world()[1] > 1:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def _load_model(name: str, **kwargs):
    from ..models import load_encoder

    return load_encoder(name, **kwargs)


def _spec(spec, what: str) -> tuple[str, Path]:
    if isinstance(spec, (tuple, list)):
        lang, path = spec
        return str(lang), Path(path)
    lang, sep, path = str(spec).partition(":")
    if not sep or not lang or not path:
        raise ConfigError(f"{what}: expected LANG:FILE (e.g. deu:de.txt), got {spec!r}")
    return lang, Path(path)


def mine_files(
    model,
    pivot,
    langs: list,
    out: str | os.PathLike,
    dev_gold: list | None = None,
    config: MineConfig | None = None,
    *,
    overwrite: bool = False,
    load_kwargs: dict | None = None,
) -> MineResult | None:
    """The whole command: ``pivot`` and each of ``langs`` are ``LANG:FILE`` strings or (lang, path)
    pairs, ``dev_gold`` likewise (``LANG:FILE``); ``model`` a name/path for
    :func:`polyalign.models.load_encoder` or an object with ``encode``. Every input is read and
    checked, and ``out`` is checked, before the model is loaded; nothing is written on error.
    Under torchrun (``WORLD_SIZE > 1``) the ranks share the encoding (:mod:`.embed`); rank 0 searches
    and writes, the other ranks return None."""
    config = (config or MineConfig()).validate()
    if pivot is None:
        check_languages("", [])
    pivot_lang, pivot_path = _spec(pivot, "--pivot")
    specs = [_spec(s, "--lang") for s in langs]
    check_languages(pivot_lang, [lang for lang, _ in specs])
    gold_specs = [_spec(s, "--dev-gold") for s in dev_gold or []]
    names = [lang for lang, _ in specs]
    for lang, _ in gold_specs:
        if lang not in names:
            raise ConfigError(f"--dev-gold {lang}: not a mined language (mined: {', '.join(names)})")
    if len({lang for lang, _ in gold_specs}) != len(gold_specs):
        raise ConfigError("--dev-gold: one gold file per language")
    prepare_output(out, "mine", overwrite=overwrite, create=False)
    piv = read_sentences(pivot_lang, pivot_path, config)
    sents = [read_sentences(lang, path, config) for lang, path in specs]
    by_lang = {s.lang: s for s in sents}
    gold = {}
    for lang, path in gold_specs:
        gold[lang], dropped = read_gold(path, piv, by_lang[lang])
        if dropped:
            log.warning(
                "%s: %d gold pairs name lines removed as empty or in the wrong script; they are left out",
                path,
                dropped,
            )
    init_distributed()
    if isinstance(model, (str, os.PathLike)):
        model = _load_model(str(model), device=_device(config.device), **(load_kwargs or {}))
    result = mine_texts(model, piv, sents, config, gold)
    if result is not None:  # rank 0 (or a single process)
        write_outputs(result, out, overwrite=overwrite)
    return result
