"""``polyalign data build SOURCE`` — build groups and baseline views from a corpus."""

from __future__ import annotations

import argparse

from ..config import add_overwrite_argument
from ..langs import parse_lang_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build multi-way groups and pair views from parallel corpora")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = dsub.add_parser("build", help="read a corpus, build groups + views, save as a Hugging Face dataset")
    b.add_argument("source", choices=["xnli", "flores", "tatoeba", "bitext", "hf"])
    b.add_argument("--out", required=True, help="output folder (written atomically)")
    b.add_argument(
        "--data-dir", default=None, help="data folder (default: $POLYALIGN_DATA_DIR or ../shared/data)"
    )
    b.add_argument(
        "--langs", default=None, help="comma-separated language codes (default: all the source has)"
    )
    b.add_argument(
        "--split", default=None, help="xnli: dev,test (default both); flores: dev|devtest; hf: split name"
    )
    b.add_argument(
        "--file", action="append", dest="files", help="bitext: SRC:TGT:PATH (TSV or JSONL); repeatable"
    )
    b.add_argument("--name", dest="hf_name", help="hf: hub id or save_to_disk folder")
    b.add_argument(
        "--pivot",
        default="en",
        help="pivot language for the En–X view and bitext joins, any code of it (en = eng = eng_Latn; "
        "default en)",
    )
    b.add_argument("--min-langs", type=int, default=2, help="drop groups with fewer translations (default 2)")
    b.add_argument("--no-dedup", action="store_true", help="keep duplicate sentences")
    b.add_argument(
        "--max-length-ratio",
        type=float,
        default=None,
        help="drop translations this much longer/shorter than the pivot",
    )
    b.add_argument("--seed", type=int, default=0)
    add_overwrite_argument(b)
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from ..io import prepare_output
    from .build import FilterOptions, build_corpus, save_corpus

    prepare_output(args.out, "corpus", overwrite=args.overwrite, create=False)  # before reading any data
    corpus, meta = build_corpus(
        args.source,
        data_dir=args.data_dir,
        langs=parse_lang_list(args.langs) or None,
        pivot=args.pivot,
        seed=args.seed,
        filters=FilterOptions(
            min_langs=args.min_langs, dedup=not args.no_dedup, max_length_ratio=args.max_length_ratio
        ),
        split=args.split,
        files=args.files,
        hf_name=args.hf_name,
    )
    save_corpus(corpus, args.out, meta, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    print("views:     " + ", ".join(f"{k}={v}" for k, v in meta["counts"].items()))
    print("languages: " + ", ".join(f"{k}={v}" for k, v in meta["sentences_per_language"].items()))
    removed = (meta.get("filters") or {}).get("removed") or {}
    if removed:
        print("filtered:  " + ", ".join(f"{k}={v}" for k, v in removed.items()))
    return 0
