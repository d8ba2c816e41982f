"""One markdown table over studies: per arm, mean ± sd over seeds of the headline metrics.

    python experiments/summary_table.py RUNS_ROOT "label=study/results/arm" ... [--pairs "a:b;c:d"]

Each cell is the mean over a task's subsets (languages / pairs), averaged per seed, then mean ± sd over
seeds. ``--pairs`` adds a Welch t-test over the per-seed means (seeds, not languages, are the units).
``--printed "LABEL:N:Header=mean,sd;…"`` adds an arm known only by the mean ± sd printed for it in
RESULTS.md (its per-seed results gone): pairs with it use Welch's test from summary statistics, an sd
below 0.05 (printed as 0.0) taken as 0.05, its rounding bound.
Used to build the summary tables of experiments/RESULTS.md and the README from the studies' outputs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from scipy import stats

from polyalign.eval.tasks import TATOEBA14

COLUMNS = [  # (header, task, metric, row filter)
    ("Tatoeba-36", "tatoeba", "accuracy", lambda r: True),
    ("Tatoeba-14", "tatoeba", "accuracy", lambda r: r["langs"][0] in TATOEBA14),
    ("Tatoeba-14 xx→en", "tatoeba", "accuracy_xx2en", lambda r: r["langs"][0] in TATOEBA14),
    ("Tatoeba-14 mean of both", "tatoeba", "accuracy_mean_both", lambda r: r["langs"][0] in TATOEBA14),
    ("Tatoeba seen", "tatoeba", "accuracy", lambda r: r["seen"] is True),
    ("Tatoeba unseen", "tatoeba", "accuracy", lambda r: r["seen"] is False),
    # LASER's xsim against English and, apart, between two non-English languages (deu-zho, …)
    ("xsim ↓", "flores-xsim", "xsim_error", lambda r: "eng_Latn" in r["langs"]),
    ("xsim en→xx ↓", "flores-xsim", "xsim_error_tgt2src", lambda r: "eng_Latn" in r["langs"]),
    ("xsim non-En ↓", "flores-xsim", "xsim_error", lambda r: "eng_Latn" not in r["langs"]),
    ("STSb-x", "stsb-x", "spearman", lambda r: True),
    ("STSb mono", "stsb", "spearman", lambda r: True),
    ("STS17 (SemEval)", "sts17-semeval", "spearman", lambda r: True),
    ("SIB-200", "sib200", "accuracy", lambda r: True),
    ("SIB-200-x", "sib200-x", "accuracy", lambda r: True),
]


def seed_means(folder: Path) -> list[list[float]]:
    out = []
    for seed in sorted(folder.glob("seed-*")):
        rows = [json.loads(line) for f in seed.glob("*.jsonl") for line in f.read_text().splitlines() if line]
        means = []
        for _, task, metric, keep in COLUMNS:
            vals = [r["value"] for r in rows if r["task"] == task and r["metric"] == metric and keep(r)]
            means.append(statistics.fmean(vals) if vals else float("nan"))
        out.append(means)
    return out


def summary(data: dict, printed: dict, label: str, i: int) -> tuple[float, float, int] | None:
    """(mean, sd, n) of one arm in column i, from its per-seed means or as printed."""
    if label in printed:
        n, cells = printed[label]
        if COLUMNS[i][0] not in cells:
            return None
        mean, sd = cells[COLUMNS[i][0]]
        return mean, max(sd, 0.05), n  # printed to one decimal: 0.0 means below 0.05
    vals = [s[i] for s in data[label]]
    if any(v != v for v in vals):
        return None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0, len(vals)


def cell(vals: list[float]) -> str:
    if any(v != v for v in vals):
        return "–"
    m = statistics.fmean(vals)
    return f"{m:.1f} ± {statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{m:.1f}"


def parse_printed(spec: str) -> tuple[str, int, dict[str, tuple[float, float]]]:
    """``LABEL:N:Header=mean,sd;Header=mean,sd`` → (label, n, {header: (mean, sd)})."""
    try:
        label, n, cells = spec.split(":", 2)
        stats_ = {}
        for cell_ in filter(None, cells.split(";")):
            header, values = cell_.rsplit("=", 1)
            mean, sd = (float(v) for v in values.split(","))
            stats_[header] = (mean, sd)
        known = {c[0] for c in COLUMNS}
        if not stats_ or not set(stats_) <= known or int(n) < 2:
            raise ValueError
        return label, int(n), stats_
    except ValueError:
        raise SystemExit(
            f"summary_table: --printed {spec!r}: give LABEL:N:Header=mean,sd;… (N ≥ 2, headers of the table)"
        ) from None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("arms", nargs="+", help="label=relative/path/to/results/arm")
    ap.add_argument("--pairs", default="", help="a:b;… (labels) Welch t-test over seeds, b − a")
    ap.add_argument("--columns", default="", help="comma-separated headers to keep (default: all with data)")
    ap.add_argument("--printed", action="append", default=[], help="LABEL:N:Header=mean,sd;… (see above)")
    a = ap.parse_args()
    data = {}
    for spec in a.arms:
        label, path = spec.rsplit("=", 1)  # labels may contain "=", paths do not
        data[label] = seed_means(Path(a.root) / path)
    printed = {label: (n, cells) for label, n, cells in map(parse_printed, a.printed)}
    keep = [i for i, c in enumerate(COLUMNS) if (not a.columns or c[0] in a.columns.split(","))]
    keep = [i for i in keep if any(s[i] == s[i] for seeds in data.values() for s in seeds)]
    print("| model | seeds | " + " | ".join(COLUMNS[i][0] for i in keep) + " |")
    print("|---|---:|" + "---:|" * len(keep))
    for label, seeds in data.items():
        print(f"| {label} | {len(seeds)} | " + " | ".join(cell([s[i] for s in seeds]) for i in keep) + " |")
    for label, (n, cells) in printed.items():
        row = [
            f"{cells[COLUMNS[i][0]][0]:.1f} ± {cells[COLUMNS[i][0]][1]:.1f}"
            if COLUMNS[i][0] in cells
            else "–"
            for i in keep
        ]
        print(f"| {label} (as printed) | {n} | " + " | ".join(row) + " |")
    for pair in filter(None, a.pairs.split(";")):
        x, y = pair.split(":")
        parts = []
        for i in keep:
            sx, sy = summary(data, printed, x, i), summary(data, printed, y, i)
            if sx is None or sy is None:
                continue
            d = sy[0] - sx[0]
            p = (
                stats.ttest_ind_from_stats(*sy, *sx, equal_var=False).pvalue
                if min(sx[2], sy[2]) > 1
                else float("nan")
            )
            parts.append(f"{COLUMNS[i][0]} {d:+.2f}" + (f" (p={p:.3f})" if p == p else ""))
        print(f"\n{y} − {x}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
