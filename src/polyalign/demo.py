"""``polyalign demo`` — the first thing to run: evaluate, train with multiple positives, evaluate again.

Offline by default, on a small multi-way corpus shipped with the package (300 everyday sentences in
8 languages and 5 scripts, written for polyalign, CC0): 200 groups train, 100 are held out. With
``--data-dir`` it trains on XNLI groups (en/de/fr/es/ru/zh) and runs the ``quick`` evaluation suite.
"""

from __future__ import annotations

import argparse
import importlib.resources
import itertools
import json
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .config import add_overwrite_argument
from .io import prepare_output, read_jsonl, write_text_atomic

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DEMO_LANGS = ["en", "de", "fr", "es", "ru", "zh", "ar", "hi"]


def demo_corpus_path() -> Path:
    return Path(str(importlib.resources.files("polyalign") / "resources" / "demo" / "corpus.jsonl"))


def load_demo_corpus() -> list[dict]:
    return list(read_jsonl(demo_corpus_path()))


def split_demo(rows: list[dict], held_out: int = 100, seed: int = 0) -> tuple[list[dict], list[dict]]:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    test = sorted(order[:held_out])
    train = sorted(order[held_out:])
    return [rows[i] for i in train], [rows[i] for i in test]


def bitext_scores(model, rows: list[dict], langs: list[str]) -> dict:
    """Retrieval accuracy (mean of both directions) for each language ↔ English and over all pairs,
    plus the xsim (ratio-margin) error rate over all pairs."""
    import numpy as np

    from .eval.bitext import retrieval_accuracy, xsim_error_rate

    emb = {
        lang: model.encode(
            [r[lang] for r in rows], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        for lang in langs
    }
    out = {}
    for lang in langs:
        if lang != "en":
            out[f"acc {lang}-en"] = (
                retrieval_accuracy(emb[lang], emb["en"]) + retrieval_accuracy(emb["en"], emb[lang])
            ) / 2
    pairs = list(itertools.combinations(langs, 2))
    out["acc all pairs"] = float(
        np.mean(
            [(retrieval_accuracy(emb[a], emb[b]) + retrieval_accuracy(emb[b], emb[a])) / 2 for a, b in pairs]
        )
    )
    out["xsim err all pairs"] = float(
        np.mean([(xsim_error_rate(emb[a], emb[b]) + xsim_error_rate(emb[b], emb[a])) / 2 for a, b in pairs])
    )
    out["margin all pairs"] = float(np.mean([_margin(emb[a], emb[b]) for a, b in pairs]))
    return out


def _margin(x: np.ndarray, y: np.ndarray) -> float:
    """×100 mean of cos(translation) − cos(closest non-translation), both directions: how far each
    sentence's translation stands out; retrieval accuracy saturates, this does not."""
    import numpy as np

    sims = x @ y.T
    diag = np.diag(sims).copy()
    off = sims.copy()
    np.fill_diagonal(off, -np.inf)
    return float(100 * ((diag - off.max(axis=1)).mean() + (diag - off.max(axis=0)).mean()) / 2)


def _bar_chart(before: dict, after: dict, path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in before if k.startswith("acc ") and k != "acc all pairs"]
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(x - 0.2, [before[k] for k in keys], 0.4, label="before")
    ax.bar(x + 0.2, [after[k] for k in keys], 0.4, label="after (multi-positive)")
    ax.set_xticks(x, [k.removeprefix("acc ") for k in keys])
    ax.set_ylabel("retrieval accuracy (%)")
    low = min(min(before[k] for k in keys), min(after[k] for k in keys))
    ax.set_ylim(max(0, low - 5), 100)
    ax.legend(loc="lower right")
    ax.set_title("held-out demo sentences: bitext retrieval, mean of both directions")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(before: dict, after: dict) -> str:
    lines = ["| metric | before | after | Δ |", "|---|---:|---:|---:|"]
    for k in before:
        lines.append(f"| {k} | {before[k]:.1f} | {after[k]:.1f} | {after[k] - before[k]:+.1f} |")
    return "\n".join(lines)


def run_demo(
    out: str | Path = "polyalign-demo",
    model: str = "me5-small-q4",
    steps: int | None = None,
    batch_groups: int = 16,
    lr: float = 2e-5,
    seed: int = 0,
    data_dir: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Python API of ``polyalign demo``; returns the before/after scores. ``out`` must be absent,
    empty, or (with ``overwrite``) an earlier demo's folder."""
    from .data.build import make_views, save_corpus
    from .data.groups import groups_from_rows
    from .models import load_encoder
    from .train import TrainConfig, train

    out = Path(out)
    prepare_output(out, "demo", overwrite=overwrite)
    t0 = time.perf_counter()
    if data_dir is not None:
        return _run_xnli_demo(out, model, steps or 150, batch_groups, lr, seed, data_dir)

    rows = load_demo_corpus()
    train_rows, test_rows = split_demo(rows, seed=seed)
    print(
        f"demo corpus: {len(rows)} groups × {len(DEMO_LANGS)} languages ({', '.join(DEMO_LANGS)}); "
        f"training on {len(train_rows)}, evaluating on {len(test_rows)} held-out groups"
    )
    groups = groups_from_rows(
        ({"group_id": r["id"], **{lang: r[lang] for lang in DEMO_LANGS}} for r in train_rows), DEMO_LANGS
    )
    corpus_dir = out / "train_corpus"
    save_corpus(
        make_views(groups, pivot="en", seed=seed), corpus_dir, {"source": "polyalign demo corpus (CC0)"}
    )

    base = load_encoder(model)
    before = bitext_scores(base, test_rows, DEMO_LANGS)
    del base
    steps = steps or len(train_rows) // batch_groups  # one epoch: more overfits 200 groups
    # Word embeddings frozen: they are 80 % of the weights, and the update is then 5× cheaper on CPU.
    cfg = TrainConfig(
        model=model,
        data=str(corpus_dir),
        out=str(out / "model"),
        loss="multi",
        batch_groups=batch_groups,
        steps=steps,
        lr=lr,
        seed=seed,
        save_every=10**9,
        log_every=1,
        freeze_embeddings=True,
    )
    result = train(cfg)
    trained = load_encoder(str(out / "model"))
    after = bitext_scores(trained, test_rows, DEMO_LANGS)

    table = _table(before, after)
    _bar_chart(before, after, out / "demo_bitext.png")
    from .report import similarity_heatmap

    similarity_heatmap(
        trained, {lang: [r[lang] for r in test_rows[:4]] for lang in DEMO_LANGS}, out / "demo_heatmap.png"
    )
    summary = {
        "before": before,
        "after": after,
        "steps": steps,
        "batch_groups": batch_groups,
        "lr": lr,
        "seed": seed,
        "train_seq_per_s": result.seq_per_s,
        "peak_memory_gib": result.peak_memory_gib,
        "wall_s": time.perf_counter() - t0,
        "model": model,
    }
    write_text_atomic(out / "demo_results.json", json.dumps(summary, indent=2))
    write_text_atomic(out / "demo_results.md", table + "\n")
    print(f"\n{table}\n")
    print(
        f"trained {steps} steps at {result.seq_per_s:.1f} sequences/s, peak memory {result.peak_memory_gib:.2f} GiB; "
        f"total {summary['wall_s']:.0f} s"
    )
    print(f"model (sentence-transformers format): {out / 'model'}")
    print(f"plots: {out / 'demo_bitext.png'}, {out / 'demo_heatmap.png'}")
    return summary


def _run_xnli_demo(
    out: Path, model: str, steps: int, batch_groups: int, lr: float, seed: int, data_dir: str
) -> dict:
    from .data.build import build_corpus, save_corpus
    from .eval import evaluate
    from .models import load_encoder
    from .report import compare, deltas_table, scores_by_label
    from .train import TrainConfig, train

    t0 = time.perf_counter()
    langs = ["en", "de", "fr", "es", "ru", "zh"]
    corpus, meta = build_corpus("xnli", data_dir=data_dir, langs=langs, seed=seed)
    save_corpus(corpus, out / "xnli_corpus", meta)
    print(f"XNLI groups: {meta['counts']['groups']} ({', '.join(langs)})")
    before = evaluate(
        load_encoder(model), suite="quick", data_dir=data_dir, seen_langs=langs, out=out / "results" / "base"
    )
    cfg = TrainConfig(
        model=model,
        data=str(out / "xnli_corpus"),
        out=str(out / "model"),
        loss="multi",
        batch_groups=batch_groups,
        steps=steps,
        lr=lr,
        seed=seed,
        save_every=50,
        log_every=5,
    )
    result = train(cfg)
    after = evaluate(
        load_encoder(str(out / "model")),
        suite="quick",
        data_dir=data_dir,
        seen_langs=langs,
        out=out / "results" / "multi",
    )
    comparison = compare(scores_by_label([before], "base"), [scores_by_label([after], "multi")])
    table = deltas_table(comparison)
    write_text_atomic(out / "demo_results.md", table + "\n")
    print(f"\n{table}\n")
    print(
        f"trained {steps} steps at {result.seq_per_s:.1f} sequences/s; total {time.perf_counter() - t0:.0f} s"
    )
    return {"before": before, "after": after}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="offline demo: evaluate, train with multiple positives, evaluate again")
    p.add_argument("--out", default="polyalign-demo", help="output folder (default ./polyalign-demo)")
    p.add_argument("--model", default="me5-small-q4")
    p.add_argument(
        "--steps", type=int, default=None, help="training steps (default: one epoch of the demo corpus)"
    )
    p.add_argument("--batch-groups", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--data-dir", default=None, help="train on XNLI groups and run the quick suite from this data folder"
    )
    add_overwrite_argument(p)
    p.set_defaults(
        func=lambda a: (
            run_demo(a.out, a.model, a.steps, a.batch_groups, a.lr, a.seed, a.data_dir, a.overwrite) and 0
        )
    )
