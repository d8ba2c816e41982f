"""``polyalign mine`` — mine multi-way training groups from monolingual text files."""

from __future__ import annotations

import argparse

from ..config import add_encoding_arguments, add_overwrite_argument, apply_encoding_arguments
from .defaults import (
    APPROX_ABOVE,
    APPROX_BACKEND,
    DEFAULT_EF_SEARCH,
    DEFAULT_MAX_LENGTH_RATIO,
    DEFAULT_NPROBE,
    DEFAULT_SHARD_SIZE,
    DEFAULT_THRESHOLD,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mine",
        help="mine parallel pairs and multi-way groups from monolingual text (margin-based, LASER)",
        description="Embed each file once (cached float16 shards, resumable), find each language's "
        "translations of pivot sentences by LASER's ratio margin, and write mined pairs (TSV) and "
        "multi-way groups joined through the pivot (a corpus for `polyalign train --data OUT/corpus`). "
        "Under torchrun (torchrun --nproc_per_node N -m polyalign.cli mine ...) the ranks share the "
        "encoding; rank 0 searches and writes.",
        epilog="e.g. polyalign mine --model me5-small-q4 --pivot eng:en.txt --lang deu:de.txt "
        "--lang swh:sw.txt --out mined/",
    )
    p.add_argument("--model", required=True, help="model path, hub id or alias (e.g. me5-small-q4)")
    p.add_argument(
        "--pivot",
        default=None,
        metavar="LANG:FILE",
        help="pivot language and its file (one sentence per line)",
    )
    p.add_argument(
        "--lang",
        action="append",
        default=[],
        metavar="LANG:FILE",
        help="a language to mine and its file (repeat)",
    )
    p.add_argument("--out", required=True, help="output folder (pairs/, corpus/, mine.json)")
    p.add_argument(
        "--dev-gold",
        action="append",
        default=[],
        metavar="LANG:FILE",
        help="gold pairs for LANG: lines 'pivot_line<TAB>lang_line' (1-based line numbers of the two "
        "input files, every true pair listed); the threshold is then the F1-best one on it",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"margin threshold for languages without dev gold (default: the mean dev-tuned one, "
        f"else {DEFAULT_THRESHOLD})",
    )
    p.add_argument("--strategy", choices=["max", "intersect", "forward"], default="max")
    p.add_argument("--k", type=int, default=4, help="neighbours for the margin (default 4, LASER's)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="sentences per cached embedding shard"
    )
    p.add_argument(
        "--cache-dir", default=None, help="embedding shards (default: ~/.cache/polyalign/embeddings/mine)"
    )
    p.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only (no resume)")
    p.add_argument("--backend", choices=["auto", "torch", "faiss", "faiss-ivf", "faiss-hnsw"], default="auto")
    p.add_argument(
        "--approx-above",
        type=int,
        default=APPROX_ABOVE,
        help=f"with faiss and --backend auto: approximate search ({APPROX_BACKEND}) for sets of this many "
        f"sentences or more (default {APPROX_ABOVE}; 0 = always exact; with faiss GPUs always exact)",
    )
    p.add_argument("--nprobe", type=int, default=DEFAULT_NPROBE, help="IVF lists searched per query")
    p.add_argument(
        "--ef-search", type=int, default=DEFAULT_EF_SEARCH, help="HNSW search breadth (faiss efSearch)"
    )
    p.add_argument(
        "--max-length-ratio",
        type=float,
        default=DEFAULT_MAX_LENGTH_RATIO,
        help="drop pairs whose character lengths differ more (0 = off)",
    )
    p.add_argument("--no-script-check", action="store_true", help="keep sentences in an unexpected script")
    add_encoding_arguments(p)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    add_overwrite_argument(p)
    p.set_defaults(func=run_mine)


def run_mine(args: argparse.Namespace) -> int:
    from .pipeline import MineConfig, mine_files

    prompt = apply_encoding_arguments(args)
    config = MineConfig(
        k=args.k,
        strategy=args.strategy,
        threshold=args.threshold,
        backend=args.backend,
        approx_above=args.approx_above or None,
        nprobe=args.nprobe,
        ef_search=args.ef_search,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        max_length_ratio=args.max_length_ratio or None,
        script_check=not args.no_script_check,
        device=args.device,
    )
    result = mine_files(
        args.model,
        args.pivot,
        args.lang,
        args.out,
        dev_gold=args.dev_gold,
        config=config,
        overwrite=args.overwrite,
        load_kwargs={"prompt": prompt},
    )
    if result is None:  # a torchrun rank other than 0: its shards are encoded, rank 0 reports
        return 0
    for lang, info in result.meta["languages"].items():
        print(
            f"{result.pivot.lang}-{lang}: {info['pairs']['kept']} pairs "
            f"(threshold {info['threshold']:.4f}, {info['threshold_source']}), {info['in_groups']} in groups"
        )
    g = result.meta["groups"]
    print(f"{g['groups']} groups ({g['complete']} with every language) written to {args.out}/corpus")
    return 0
