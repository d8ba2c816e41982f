"""``polyalign eval`` — evaluate an encoder on a suite or a list of tasks."""

from __future__ import annotations

import argparse
import sys

from ..config import add_encoding_arguments, apply_encoding_arguments
from ..langs import parse_lang_list

# Kept here (not imported from .tasks) so that `polyalign --help` does not import torch/scipy.
TASK_NAMES = [
    "tatoeba",
    "tatoeba14",
    "tatoeba36",
    "tatoeba112",
    "flores-xsim",
    "flores-dev-xsim",
    "sts17-semeval",
    "stsb",
    "stsb-x",
    "sts-file",
    "sib200",
    "sib200-x",
    "cls-file",
    "bucc",
    "bitext-dir",
]


def register(sub: argparse._SubParsersAction) -> None:
    from .schema import DEFAULT_EXPERIMENTS, DEFAULT_SAMPLES_PER_LABEL, DEFAULT_SEED

    p = sub.add_parser(
        "eval",
        help="evaluate an encoder: Tatoeba, FLORES xsim, STS, SIB-200, BUCC",
        description="Evaluate an encoder and write one JSONL row per score plus a markdown summary.",
        epilog="tasks: " + ", ".join(TASK_NAMES) + "; e.g. --tasks tatoeba:deu,fra flores-xsim:deu,deu-fra "
        "sts17-semeval sib200-x:swh. Suites (quick, paper, full) are listed in polyalign.eval.tasks.SUITES.",
    )
    p.add_argument("--model", required=True, help="model path, hub id or alias (e.g. me5-small-q4)")
    p.add_argument("--suite", choices=["quick", "paper", "full"], default=None, help="a named task suite")
    p.add_argument(
        "--tasks",
        nargs="+",
        action="extend",
        default=[],
        metavar="TASK",
        help="tasks NAME[:ARG] (space-separated; ARG lists are comma-separated)",
    )
    p.add_argument(
        "--langs", default=None, help="comma-separated languages to select/filter (any code style)"
    )
    p.add_argument(
        "--seen-langs", default=None, help="comma-separated training languages (marks rows seen/unseen)"
    )
    p.add_argument(
        "--data-dir", default=None, help="data folder (default: $POLYALIGN_DATA_DIR or ../shared/data)"
    )
    p.add_argument("--out", default="results", help="output folder or .jsonl path (default: ./results/)")
    p.add_argument("--name", default=None, help="model label in the results (default: --model)")
    add_encoding_arguments(p)
    p.add_argument("--pooling", default=None, help="override the pooling (mean, cls, ...)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--backend",
        choices=["torch", "onnx"],
        default="torch",
        help="encoding engine: torch (default) or onnx (the transformer in ONNX Runtime, float32, CPU; "
        "faster on a CPU, scores within 0.1 of torch; pip install 'polyalign[onnx]')",
    )
    p.add_argument(
        "--cache-dir", default=None, help="embedding cache (default: ~/.cache/polyalign/embeddings)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--k", type=int, default=4, help="neighbours for the margin (xsim, BUCC; default 4)")
    p.add_argument(
        "--n-experiments",
        type=int,
        default=DEFAULT_EXPERIMENTS,
        help=f"classification: seeded runs (default {DEFAULT_EXPERIMENTS}, MTEB's)",
    )
    p.add_argument(
        "--samples-per-label",
        type=int,
        default=DEFAULT_SAMPLES_PER_LABEL,
        help=f"classification: training examples per label (default {DEFAULT_SAMPLES_PER_LABEL}, MTEB's; "
        "any other value is not MTEB's protocol)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"classification: undersampling seed (default {DEFAULT_SEED}, MTEB's)",
    )
    p.add_argument("--max-sentences", type=int, default=None, help="truncate every set (smoke tests only)")
    p.add_argument(
        "--max-seq-length",
        type=int,
        default=None,
        help="token limit for every model of a comparison (default: the model's own; recorded in each row)",
    )
    p.add_argument("--pivot", default="eng", help="bitext-dir: score every language to and from it")
    p.add_argument(
        "--pairs", default=None, help="bitext-dir: extra comma-separated pairs, e.g. deu-fra,rus-zho"
    )
    p.add_argument("--bucc-backend", choices=["torch", "faiss", "auto"], default="torch")
    p.add_argument("--bucc-strategy", choices=["max", "intersect", "forward"], default="max")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .runner import evaluate, results_paths

    if not args.suite and not args.tasks:
        raise ConfigError("give --suite quick|paper|full or --tasks ...")
    prompt = apply_encoding_arguments(args)
    from ..models import load_encoder

    pairs = []
    for item in parse_lang_list(args.pairs):
        a, sep, b = item.partition("-")
        if not sep or not a or not b:
            raise ConfigError(f"--pairs: expected SRC-TGT items like deu-fra, got {item!r}")
        pairs.append((a, b))
    model = load_encoder(args.model, pooling=args.pooling, prompt=prompt, device=args.device)
    seen = parse_lang_list(args.seen_langs) or None
    name = args.name or args.model
    rows = evaluate(
        model,
        suite=args.suite,
        tasks=args.tasks,
        langs=parse_lang_list(args.langs) or None,
        data_dir=args.data_dir,
        seen_langs=seen,
        out=args.out,
        model_name=name,
        prompt=prompt,
        batch_size=args.batch_size,
        backend=args.backend,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        k=args.k,
        n_experiments=args.n_experiments,
        samples_per_label=args.samples_per_label,
        seed=args.seed,
        device=args.device,
        bucc_backend=args.bucc_backend,
        bucc_strategy=args.bucc_strategy,
        max_sentences=args.max_sentences,
        max_seq_length=args.max_seq_length,
        pivot=args.pivot,
        pairs=pairs,
    )
    jsonl, md = results_paths(args.out, name)
    if not args.quiet:
        sys.stdout.write(md.read_text(encoding="utf-8"))
    print(f"wrote {len(rows)} rows to {jsonl} and the summary to {md}")
    return 0
