"""``polyalign synth`` — machine-translate English sentences into a multi-way corpus."""

from __future__ import annotations

import argparse
import json
import logging

from ...config import add_overwrite_argument
from ...console import show_progress
from ...errors import ConfigError
from ...langs import parse_lang_list

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="machine-translate English sentences into a synthetic multi-way corpus",
        description="Translate English sentences with an MT backend (apertium, Hugging Face seq2seq) into "
        "several languages; cache translations (resumable), filter bad ones, and save groups + pairs + "
        "en_x views like `polyalign data build`.",
    )
    p.add_argument("--backend", choices=["apertium", "hf"], default="apertium")
    p.add_argument("--langs", help="comma-separated target language codes, e.g. es,ca,gl")
    p.add_argument("--out", help="output corpus folder (written atomically)")
    add_overwrite_argument(p)
    src = p.add_argument_group("input (any combination; repeated English sentences are translated once)")
    src.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help=".txt (one sentence a line), .tsv or .jsonl; repeatable",
    )
    src.add_argument(
        "--hf", metavar="NAME_OR_DIR", help="Hugging Face dataset (hub id or save_to_disk folder)"
    )
    src.add_argument("--split", help="--hf split")
    src.add_argument(
        "--groups",
        action="append",
        default=[],
        metavar="DIR",
        help="English column of a corpus from `polyalign data build` (keeps its group ids); repeatable",
    )
    src.add_argument(
        "--column",
        help="TSV column (index or header name), JSONL field / --hf column (default text), "
        "--groups language column (default en)",
    )
    src.add_argument("--limit", type=int, help="translate at most this many sentences")
    src.add_argument(
        "--max-chars", type=int, default=1000, help="longer sentences are skipped or truncated (default 1000)"
    )
    src.add_argument(
        "--long", choices=["skip", "truncate"], default="skip", help="what to do with over-long sentences"
    )
    src.add_argument(
        "--keep-duplicates", action="store_true", help="translate repeated English sentences again"
    )
    mt = p.add_argument_group("backend")
    mt.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="[LANG=]MODEL",
        help="hf: hub id (downloads) or local folder (offline); LANG=MODEL for one-pair models, repeatable",
    )
    mt.add_argument("--src-lang", default="en", help="hf: source language code of the model (default en)")
    mt.add_argument(
        "--batch-size", type=int, help="sentences per backend call (default: hf 16, apertium 1000)"
    )
    mt.add_argument("--beam-size", type=int, default=4)
    mt.add_argument("--max-length", type=int, default=256, help="hf: max input and output tokens")
    mt.add_argument("--device", help="hf: cuda / cpu (default: cuda when present)")
    mt.add_argument("--dtype", default="auto", help="hf: auto, float32, float16, bfloat16")
    mt.add_argument(
        "--apertium-mode",
        action="append",
        default=[],
        metavar="LANG=MODE",
        help="use another installed mode for a code, e.g. ca=eng-cat_valencia",
    )
    mt.add_argument(
        "--apertium-datadir", help="Apertium data folder (default $APERTIUM_DATADIR or /usr/share/apertium)"
    )
    mt.add_argument("--list-langs", action="store_true", help="print the backend's target languages and exit")
    c = p.add_argument_group("cache")
    c.add_argument("--cache-dir", help="translation cache folder (default: user cache dir/polyalign/mt)")
    c.add_argument("--no-cache", action="store_true", help="keep translations in memory only")
    f = p.add_argument_group("filters (0 disables a threshold)")
    f.add_argument(
        "--max-length-ratio",
        type=float,
        default=3.0,
        help="drop outputs this much longer/shorter (default 3)",
    )
    f.add_argument("--ngram", type=int, default=3, help="n for the repeated n-gram filter (default 3)")
    f.add_argument(
        "--max-ngram-repeats",
        type=int,
        default=4,
        help="drop outputs repeating an n-gram this often (default 4)",
    )
    f.add_argument(
        "--max-copy-ratio",
        type=float,
        help="drop outputs whose words are mostly copied from the source (e.g. 0.6)",
    )
    f.add_argument("--sim-model", help="polyalign encoder for the similarity filter (e.g. me5-small-q4)")
    f.add_argument(
        "--min-sim",
        type=float,
        default=0.5,
        help="with --sim-model: minimum source–output cosine (default 0.5)",
    )
    f.add_argument(
        "--min-langs",
        type=int,
        default=2,
        help="drop groups with fewer sentences, English included (default 2)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_synth)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{what} must be LANG=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def make_translator(args: argparse.Namespace):
    if args.backend == "apertium":
        from .apertium import ApertiumTranslator

        return ApertiumTranslator(
            args.apertium_datadir, mode_overrides=_pairs(args.apertium_mode, "--apertium-mode")
        )
    from .base import MultiTranslator
    from .hf import HFTranslator

    if not args.model:
        raise ConfigError("--backend hf needs --model (a local folder, or a hub id to download)")
    kwargs = dict(
        src_lang=args.src_lang,
        beam_size=args.beam_size,
        max_length=args.max_length,
        batch_size=args.batch_size or 16,
        device=args.device,
        dtype=args.dtype,
    )
    pinned = [m for m in args.model if "=" in m and not m.split("=", 1)[0].count("/")]
    if pinned and len(pinned) != len(args.model):
        raise ConfigError("give either one multilingual --model or LANG=MODEL for every model")
    if not pinned:
        if len(args.model) > 1:
            raise ConfigError("several --model values need the LANG=MODEL form")
        return HFTranslator(args.model[0], **kwargs)
    return MultiTranslator(
        {lang: HFTranslator(m, target=lang, **kwargs) for lang, m in _pairs(pinned, "--model").items()}
    )


def _sources(args: argparse.Namespace) -> list:
    from .sources import read_file, read_groups, read_hf

    out = []
    for path in args.input:
        out += read_file(path, args.column)
    if args.hf:
        out += read_hf(args.hf, args.column or "text", args.split)
    for path in args.groups:
        out += read_groups(path, args.column or "en")
    if not (args.input or args.hf or args.groups):
        raise ConfigError("no input: give --input FILE, --hf NAME or --groups DIR")
    return out


def run_synth(args: argparse.Namespace) -> int:
    translator = make_translator(args)
    try:
        if args.list_langs:
            print(" ".join(translator.supported_targets()))
            return 0
        langs = parse_lang_list(args.langs)
        if not langs:
            raise ConfigError("--langs is required, e.g. --langs es,ca,gl")
        if not args.out:
            raise ConfigError("--out is required")
        return _run(args, translator, langs)
    finally:
        close = getattr(translator, "close", None)
        if callable(close):
            close()


def _run(args, translator, langs) -> int:
    from ...io import prepare_output
    from ..build import save_corpus
    from .base import resolve_target
    from .cache import TranslationCache, default_cache_dir
    from .filters import FilterConfig
    from .pipeline import build_synthetic_corpus

    for lang in langs:  # fail on a bad code before reading input or loading an encoder
        resolve_target(translator, lang)
    prepare_output(args.out, "corpus", overwrite=args.overwrite, create=False)  # …or a bad --out
    sources = _sources(args)
    encoder = None
    if args.sim_model:
        from ...models import load_encoder

        encoder = load_encoder(args.sim_model)
    filters = FilterConfig(
        max_length_ratio=args.max_length_ratio or None,
        ngram=args.ngram,
        max_ngram_repeats=args.max_ngram_repeats or None,
        max_copy_ratio=args.max_copy_ratio,
        min_sim=args.min_sim if args.sim_model else None,
    )
    cache = TranslationCache(None if args.no_cache else (args.cache_dir or default_cache_dir()))
    try:
        corpus, meta = build_synthetic_corpus(
            sources,
            translator,
            langs,
            seed=args.seed,
            cache=cache,
            batch_size=args.batch_size,
            filters=filters,
            encoder=encoder,
            min_langs=args.min_langs,
            max_chars=args.max_chars,
            long=args.long,
            limit=args.limit,
            dedup=not args.keep_duplicates,
            progress=show_progress(),
        )
    finally:
        cache.close()
    save_corpus(corpus, args.out, meta, overwrite=args.overwrite)
    synth = meta["synth"]
    print(f"wrote {args.out}")
    print("input:     " + json.dumps(synth["input"]))
    print("views:     " + ", ".join(f"{k}={v}" for k, v in meta["counts"].items()))
    print("languages: " + ", ".join(f"{k}={v}" for k, v in meta["sentences_per_language"].items()))
    for lang, s in synth["languages"].items():
        dropped = ", ".join(f"{k}={v}" for k, v in s["filtered"].items() if v) or "none"
        rate = f"{s['sentences_per_s']} sent/s" if s["sentences_per_s"] else "all cached"
        print(f"  en→{lang}: translated {s['translated']}, cached {s['cached']}, {rate}; filtered: {dropped}")
    removed = (meta.get("filters") or {}).get("removed") or {}
    print("filtered:  " + (", ".join(f"{k}={v}" for k, v in removed.items() if v) or "none"))
    return 0
