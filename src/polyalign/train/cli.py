"""``polyalign train`` — a YAML config (optional) plus any field as a ``--option``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_config_arguments
    from .config import TrainConfig

    p = sub.add_parser(
        "train",
        help="train an encoder on multi-way groups (multi-positive, single, soft-label, MSE)",
        usage="polyalign train [-c CONFIG] --data CORPUS [--FIELD VALUE ...]",
        description="Every field of the training config is an option; a YAML file (-c) gives any "
        "of them, and options given here override it.",
    )
    p.add_argument(
        "--config", "-c", default=None, help="YAML config; command-line options override its fields"
    )
    p.add_argument("--list-presets", action="store_true", help="print the named presets and exit")
    add_config_arguments(p, TrainConfig)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import config_from_args
    from .config import TrainConfig
    from .trainer import train

    if args.list_presets:
        from .presets import describe

        print(describe())
        return 0
    cfg = config_from_args(TrainConfig, args, args.config)
    result = train(cfg)
    results = result if isinstance(result, list) else [result]
    for r in results:
        print(
            f"saved {r.out}  steps={r.steps}"
            + (f"  loss={r.final_loss:.4f}" if r.final_loss == r.final_loss else "  (weight average)")
            + (f"  seq/s={r.seq_per_s:.1f}" if r.seq_per_s == r.seq_per_s else "")
            + (f"  peak_mem={r.peak_memory_gib:.2f} GiB" if r.peak_memory_gib == r.peak_memory_gib else "")
            + (f"  best={r.best_metric:.3f}" if r.best_metric is not None else "")
        )
    return 0
