"""Compare evaluation results: delta tables (mean ± sd over seeds), significance, figures.

Inputs are the JSONL rows written by :func:`polyalign.eval.evaluate` (files, or folders of them).
A *label* (``base``, ``single``, ``multi``...) is one model configuration; it may have several
result sets, one per training seed. For every (task, metric, subset) the label's score is the mean
over its seeds; per task, scores are averaged over the subsets every compared label has, separately
for all / seen / unseen subsets, and the spread over seeds of that average is the ± sd (sample sd,
ddof=1; 0 for one seed). Δ = label mean − base mean (for error rates a negative Δ is an improvement).
The p-value is a paired test over subsets (languages) between the base's and the label's per-subset
means: Wilcoxon signed-rank by default, or a paired t-test.

Figures (PNG, matplotlib's Agg backend): :func:`delta_bar_chart` (per-language deltas, as MPCL's
Figure 3) and :func:`similarity_heatmap` (cosine similarities between parallel sentences across
languages, as MPCL's Figure 5).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError
from .eval.schema import PRIMARY_METRIC, higher_is_better
from .io import atomic_path, read_jsonl

log = logging.getLogger(__name__)

__all__ = [
    "load_results",
    "Scores",
    "scores_by_label",
    "compare",
    "deltas_table",
    "paired_test",
    "delta_bar_chart",
    "similarity_matrix",
    "similarity_heatmap",
    "flores_heatmap",
]

REQUIRED = ("task", "subset", "metric", "value")


def load_results(paths) -> list[dict]:
    """Rows from JSONL files and/or folders of ``*.jsonl`` (one result set)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows: list[dict] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(p.glob("*.jsonl"))
            if not files:
                raise DataError("no *.jsonl result files in folder", p)
        elif p.is_file():
            files = [p]
        else:
            raise DataError("results not found", p)
        for f in files:
            for i, row in enumerate(read_jsonl(f), start=1):
                missing = [k for k in REQUIRED if k not in row]
                if missing:
                    raise DataError(f"result row lacks {', '.join(missing)}", f, i)
                rows.append(row)
    if not rows:
        raise DataError(f"no result rows in {', '.join(map(str, paths))}")
    return rows


Key = tuple[str, str, str]  # (task, metric, subset)


@dataclass
class Scores:
    """One label's scores: ``seeds[i][(task, metric, subset)] = value`` and each subset's ``seen`` flag."""

    label: str
    seeds: list[dict[Key, float]]
    seen: dict[Key, bool | None]
    lengths: set = field(default_factory=set)  # the max_seq_length values its rows were computed at

    def mean(self, key: Key) -> float:
        return float(np.mean([s[key] for s in self.seeds]))

    def keys(self) -> set[Key]:
        """Keys present in every seed."""
        common = set(self.seeds[0])
        for s in self.seeds[1:]:
            common &= set(s)
        return common


def _index(rows: list[dict], source: str = "") -> tuple[dict[Key, float], dict[Key, bool | None]]:
    values, seen = {}, {}
    for r in rows:
        key = (r["task"], r["metric"], r["subset"])
        if key in values and values[key] != r["value"]:
            raise DataError(f"{source}: two different values for {key} — one result set per seed, please")
        values[key] = float(r["value"])
        seen[key] = r.get("seen")
    return values, seen


def scores_by_label(seed_rows: list[list[dict]], label: str) -> Scores:
    """Build :class:`Scores` from one list of rows per seed."""
    if not seed_rows:
        raise ConfigError(f"{label}: no result sets")
    seeds, seen = [], {}
    for i, rows in enumerate(seed_rows):
        values, s = _index(rows, f"{label} #{i + 1}")
        seeds.append(values)
        for k, v in s.items():
            seen.setdefault(k, v)
    lengths = {r.get("max_seq_length") for rows in seed_rows for r in rows}
    return Scores(label, seeds, seen, lengths)


def check_lengths(sets: list[Scores], allow_mixed: bool = False) -> str | None:
    """Refuse a comparison whose result sets were computed at different token limits (a model
    truncated at 64 tokens loses on long sentences whatever its training did). Rows without the
    field (results written before polyalign recorded it) count as unknown. Returns a warning line
    when the comparison is allowed but not clean, else None."""
    known = {n for sc in sets for n in sc.lengths if n is not None}
    unknown = [sc.label for sc in sets if None in sc.lengths]
    if len(known) > 1:
        detail = "; ".join(f"{sc.label}: {sorted(map(str, sc.lengths))}" for sc in sets)
        if not allow_mixed:
            raise DataError(
                f"results computed at different max_seq_length ({detail}): re-evaluate every model with "
                "the same --max-seq-length, or pass --allow-mixed-lengths"
            )
        return f"WARNING: mixed max_seq_length ({detail}); deltas are biased by truncation"
    if unknown:
        return (
            f"note: max_seq_length not recorded for {', '.join(unknown)} (results older than polyalign 0.2)"
        )
    return None


def paired_test(a, b, method: str = "wilcoxon") -> float:
    """Two-sided p-value of a paired test between per-language scores ``a`` and ``b``.

    ``method``: ``"wilcoxon"`` (signed-rank; robust, the default) or ``"ttest"`` (paired t-test).
    NaN when it is undefined (fewer than 2 pairs, or all differences zero).
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise DataError(f"paired test needs equal lengths, got {a.shape} and {b.shape}")
    d = b - a
    if len(d) < 2 or np.allclose(d, 0):
        return math.nan
    if method == "wilcoxon":
        return float(stats.wilcoxon(a, b).pvalue)
    if method == "ttest":
        if np.allclose(d, d[0]):  # constant non-zero difference: t is infinite
            return 0.0
        return float(stats.ttest_rel(a, b).pvalue)
    raise ConfigError(f"unknown test {method!r} (wilcoxon, ttest)")


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def compare(
    base: Scores,
    runs: list[Scores],
    metrics: str = "primary",
    test: str = "wilcoxon",
    allow_mixed_lengths: bool = False,
) -> list[dict]:
    """One dict per (task, metric, group ∈ all/seen/unseen, label) with base and label mean ± sd,
    Δ and the paired test's p-value, over the subsets that the base and *all* runs share.
    Result sets computed at different ``max_seq_length`` are refused (see :func:`check_lengths`)."""
    warning = check_lengths([base, *runs], allow_mixed_lengths)
    if warning and not warning.startswith("WARNING"):
        log.info(warning)  # unknown lengths (old results): a note, not a flag on every table
        warning = None
    elif warning:
        log.warning(warning)
    keys = base.keys()
    for r in runs:
        keys &= r.keys()
    if not keys:
        raise DataError("the result sets share no (task, metric, subset): nothing to compare")
    if metrics == "primary":
        keys = {k for k in keys if PRIMARY_METRIC.get(k[0], (k[1],))[0] == k[1]}
    by_tm: dict[tuple[str, str], list[Key]] = defaultdict(list)
    for k in sorted(keys):
        by_tm[(k[0], k[1])].append(k)
    out = []
    for (task, metric), ks in by_tm.items():
        groups = {"all": ks}
        flags = [base.seen.get(k) for k in ks]
        if any(f is not None for f in flags):
            groups["seen"] = [k for k, f in zip(ks, flags) if f is True]
            groups["unseen"] = [k for k, f in zip(ks, flags) if f is False]
        for group, gk in groups.items():
            if not gk:
                continue
            base_avgs = [float(np.mean([s[k] for k in gk])) for s in base.seeds]
            base_per = [base.mean(k) for k in gk]
            for r in runs:
                avgs = [float(np.mean([s[k] for k in gk])) for s in r.seeds]
                out.append(
                    {
                        "task": task,
                        "metric": metric,
                        "group": group,
                        "n_subsets": len(gk),
                        "label": r.label,
                        "base": float(np.mean(base_avgs)),
                        "base_sd": _sd(base_avgs),
                        "mean": float(np.mean(avgs)),
                        "sd": _sd(avgs),
                        "n_seeds": len(r.seeds),
                        "delta": float(np.mean(avgs) - np.mean(base_avgs)),
                        "p": paired_test(base_per, [r.mean(k) for k in gk], test)
                        if len(gk) > 1
                        else math.nan,
                        "higher_is_better": higher_is_better(metric),
                        "length_warning": warning,
                    }
                )
    return out


def _fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def deltas_table(comparison: list[dict], base_label: str = "base") -> str:
    """Markdown: one line per task/metric/group; per label ``mean ± sd``, ``Δ`` and ``p``."""
    if not comparison:
        return "No comparable results.\n"
    labels = list(dict.fromkeys(c["label"] for c in comparison))
    warnings = list(dict.fromkeys(c["length_warning"] for c in comparison if c.get("length_warning")))
    head = ["task", "metric", "group", "n", base_label]
    for lab in labels:
        head += [lab, f"Δ {lab}", "p"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for c in comparison:
        rows[(c["task"], c["metric"], c["group"])][c["label"]] = c
    for (task, metric, group), per in rows.items():
        first = next(iter(per.values()))
        arrow = "↑" if first["higher_is_better"] else "↓"
        base = f"{first['base']:.1f}" + (f" ± {first['base_sd']:.1f}" if first["base_sd"] else "")
        cells = [task, f"{metric} {arrow}", group, str(first["n_subsets"]), base]
        for lab in labels:
            c = per.get(lab)
            if c is None:
                cells += ["–", "–", "–"]
                continue
            sd = f" ± {c['sd']:.1f}" if c["n_seeds"] > 1 else ""
            good = (c["delta"] > 0) == c["higher_is_better"] and abs(c["delta"]) >= 0.05
            delta = f"{c['delta']:+.1f}" + (" ✓" if good else "")
            cells += [f"{c['mean']:.1f}{sd}", delta, _fmt_p(c["p"])]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = {c["label"]: c["n_seeds"] for c in comparison}
    lines += [
        "",
        "Mean ± sd over seeds (" + ", ".join(f"{k}: {v}" for k, v in seeds.items()) + "); "
        "Δ vs " + base_label + "; ✓ = better; p: paired test over subsets (languages).",
    ]
    if warnings:
        lines = [f"**{w}**" for w in warnings] + [""] + lines
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def delta_bar_chart(
    base: Scores,
    runs: list[Scores],
    task: str,
    path,
    metric: str | None = None,
    subsets: list[str] | None = None,
    sort: bool = True,
) -> Path:
    """Per-language Δ vs base (one bar group per subset, one bar per label, sd over seeds as error
    bars); seen subsets are marked with ``*``. Writes a PNG to ``path``."""
    metric = metric or PRIMARY_METRIC.get(task, (None,))[0]
    if metric is None:
        raise ConfigError(f"unknown task {task!r}: pass metric=")
    common = {k[2] for k in base.keys() if k[0] == task and k[1] == metric}
    for r in runs:
        common &= {k[2] for k in r.keys() if k[0] == task and k[1] == metric}
    if subsets:
        common &= set(subsets)
    if not common:
        raise DataError(f"no common {task}/{metric} subsets to plot")
    names = sorted(common)
    deltas = {
        r.label: [r.mean((task, metric, s)) - base.mean((task, metric, s)) for s in names] for r in runs
    }
    if sort and runs:
        order = np.argsort(deltas[runs[0].label])[:: 1 if not higher_is_better(metric) else -1]
        names = [names[i] for i in order]
        deltas = {lab: [d[i] for i in order] for lab, d in deltas.items()}
    errs = {r.label: [_sd([s[(task, metric, n)] for s in r.seeds]) for n in names] for r in runs}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(names) * max(1, len(runs)) + 2), 4))
    width = 0.8 / max(1, len(runs))
    x = np.arange(len(names))
    for i, r in enumerate(runs):
        ax.bar(
            x + (i - (len(runs) - 1) / 2) * width,
            deltas[r.label],
            width,
            yerr=errs[r.label],
            label=r.label,
            capsize=2,
        )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(
        [n + ("*" if base.seen.get((task, metric, n)) else "") for n in names], rotation=90, fontsize=8
    )
    better = "higher is better" if higher_is_better(metric) else "lower is better"
    ax.set_ylabel(f"Δ {metric} vs {base.label} ({better})")
    ax.set_title(f"{task}: per-language Δ {metric}")
    ax.legend()
    return _save(fig, path)


def similarity_matrix(
    model, texts_by_lang: dict[str, list[str]], prompt: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Cosine similarities between all sentences of all languages, ordered sentence-major
    (sentence 1 in every language, then sentence 2...); returns (matrix, tick labels ``"deu:1"``)."""
    from .eval.encode import as_encoder

    if not texts_by_lang:
        raise DataError("no languages given")
    counts = {lang: len(t) for lang, t in texts_by_lang.items()}
    if len(set(counts.values())) != 1 or not next(iter(counts.values())):
        raise DataError(f"need the same non-zero number of parallel sentences per language, got {counts}")
    enc = as_encoder(model, prompt=prompt, use_cache=False, show_progress=False)
    langs = list(texts_by_lang)
    n = counts[langs[0]]
    emb = {lang: enc.encode(texts_by_lang[lang]) for lang in langs}
    order = [(i, lang) for i in range(n) for lang in langs]
    mat = np.stack([emb[lang][i] for i, lang in order])
    return mat @ mat.T, [f"{lang}:{i + 1}" for i, lang in order]


def similarity_heatmap(
    model, texts_by_lang: dict[str, list[str]], path, prompt: str | None = None, title: str | None = None
) -> Path:
    """MPCL Figure 5: a heatmap of cosine similarities between parallel sentences across languages.
    Blocks on the diagonal are one sentence in every language (ideally bright)."""
    sim, labels = similarity_matrix(model, texts_by_lang, prompt)
    n_langs = len(texts_by_lang)
    plt = _pyplot()
    size = max(4.0, 0.28 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    # Colour range from the lowest similarity (rounded down) to 1, so that differences stay visible.
    vmin = math.floor(float(sim.min()) * 10) / 10
    im = ax.imshow(sim, cmap="viridis", vmin=vmin, vmax=1.0)
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    for b in range(n_langs, len(labels), n_langs):  # separate the sentence blocks
        ax.axhline(b - 0.5, color="white", linewidth=1)
        ax.axvline(b - 0.5, color="white", linewidth=1)
    if len(labels) <= 24:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    f"{sim[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="black" if sim[i, j] > (vmin + 1) / 2 else "white",
                )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity")
    ax.set_title(title or "cross-lingual similarity of parallel sentences")
    return _save(fig, path)


def flores_heatmap(
    model, langs: list[str], path, n: int = 4, data_dir=None, start: int = 0, prompt: str | None = None
) -> Path:
    """:func:`similarity_heatmap` on ``n`` FLORES-200 devtest sentences (from line ``start``)."""
    from .data.readers import read_flores

    if n < 1:
        raise ConfigError("n must be >= 1")
    texts = read_flores(data_dir, "devtest", langs)
    texts = {lang: t[start : start + n] for lang, t in texts.items()}
    return similarity_heatmap(model, texts, path, prompt=prompt, title=f"FLORES-200 devtest, {n} sentences")
