"""``polyalign report`` — compare result sets (delta tables, bar charts) and draw similarity heatmaps.

Examples::

    polyalign report compare --base results/base \\
        --runs single=results/single-s0,results/single-s1 multi=results/multi-s0,results/multi-s1 \\
        --out reports/mpcl
    polyalign report heatmap --model me5-small-q4 --langs eng,deu,fra,zho,swh --n 4 --out heatmap.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import add_overwrite_argument
from .langs import parse_lang_list


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare evaluation results; plot deltas and similarity heatmaps")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)

    c = rsub.add_parser(
        "compare",
        help="table of deltas vs a base (mean ± sd over seeds) + per-language bar charts",
        description="Each --runs item is LABEL=PATH[,PATH...]: one result file or folder per training seed.",
    )
    c.add_argument(
        "--base", required=True, help="[LABEL=]PATH[,PATH...] result file(s)/folder(s) of the baseline"
    )
    c.add_argument(
        "--runs",
        nargs="+",
        required=True,
        metavar="LABEL=PATHS",
        help="compared models: LABEL=PATH[,PATH...] (several paths = several seeds)",
    )
    c.add_argument(
        "--all-metrics", action="store_true", help="compare every metric, not only each task's primary one"
    )
    c.add_argument(
        "--test", choices=["wilcoxon", "ttest"], default="wilcoxon", help="paired test over languages"
    )
    c.add_argument(
        "--allow-mixed-lengths",
        action="store_true",
        help="compare results computed at different max_seq_length (flagged in the table)",
    )
    c.add_argument("--out", default=None, help="folder for deltas.md and the per-task bar charts (PNG)")
    add_overwrite_argument(c)
    c.add_argument(
        "--plots", default=None, help="comma-separated tasks to plot (default: every compared task)"
    )
    c.set_defaults(func=run_compare)

    h = rsub.add_parser(
        "heatmap", help="cosine similarity heatmap of parallel FLORES sentences across languages"
    )
    h.add_argument("--model", required=True)
    h.add_argument("--langs", required=True, help="comma-separated languages (any code style)")
    h.add_argument("--n", type=int, default=4, help="sentences per language (default 4)")
    h.add_argument("--start", type=int, default=0, help="first FLORES devtest line (default 0)")
    h.add_argument("--data-dir", default=None)
    h.add_argument("--prompt", default=None)
    h.add_argument("--device", default=None)
    h.add_argument("--out", default="heatmap.png", help="PNG path (default heatmap.png)")
    add_overwrite_argument(h)
    h.set_defaults(func=run_heatmap)


def _parse_labelled(text: str, default_label: str | None = None) -> tuple[str, list[str]]:
    from .errors import ConfigError

    label, sep, paths = text.partition("=")
    if not sep:
        if default_label is None:
            raise ConfigError(f"expected LABEL=PATH[,PATH...], got {text!r}")
        label, paths = default_label, text
    label = label.strip()
    items = [x.strip() for x in paths.split(",") if x.strip()]
    if not label or not items:
        raise ConfigError(f"expected LABEL=PATH[,PATH...], got {text!r}")
    return label, items


def run_compare(args: argparse.Namespace) -> int:
    from . import report
    from .errors import ConfigError

    if args.out:  # checked before any work; a report folder is polyalign's own output kind
        from .io import prepare_output

        prepare_output(args.out, "report", overwrite=args.overwrite, create=False)
    base_label, base_paths = _parse_labelled(args.base, "base")
    base = report.scores_by_label([report.load_results(p) for p in base_paths], base_label)
    runs = []
    for item in args.runs:
        label, paths = _parse_labelled(item)
        if label == base_label or label in {r.label for r in runs}:
            raise ConfigError(f"duplicate label {label!r}")
        runs.append(report.scores_by_label([report.load_results(p) for p in paths], label))
    comparison = report.compare(
        base,
        runs,
        metrics="all" if args.all_metrics else "primary",
        test=args.test,
        allow_mixed_lengths=args.allow_mixed_lengths,
    )
    table = report.deltas_table(comparison, base_label)
    sys.stdout.write(table)
    if args.out:
        from .io import prepare_output, write_text_atomic

        out = Path(args.out)
        prepare_output(out, "report", overwrite=args.overwrite)
        write_text_atomic(out / "deltas.md", table)
        tasks = parse_lang_list(args.plots) or list(dict.fromkeys(c["task"] for c in comparison))
        for task in tasks:
            metrics = list(dict.fromkeys(c["metric"] for c in comparison if c["task"] == task))
            if not metrics:
                raise ConfigError(f"--plots: task {task!r} is not in the comparison")
            for metric in metrics:
                path = out / f"deltas_{task}_{metric}.png"
                report.delta_bar_chart(base, runs, task, path, metric=metric)
                print(f"wrote {path}")
        print(f"wrote {out / 'deltas.md'}")
    return 0


def run_heatmap(args: argparse.Namespace) -> int:
    from . import report
    from .io import prepare_output_file
    from .models import load_encoder

    prepare_output_file(args.out, overwrite=args.overwrite)
    model = load_encoder(args.model, prompt=args.prompt, device=args.device)
    path = report.flores_heatmap(
        model,
        parse_lang_list(args.langs),
        args.out,
        n=args.n,
        data_dir=args.data_dir,
        start=args.start,
        prompt=args.prompt,
    )
    print(f"wrote {path}")
    return 0
