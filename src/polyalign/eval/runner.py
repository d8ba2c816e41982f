"""Run suites/tasks on a model, write JSONL rows and a markdown summary; dev evaluators for training.

Every score is one row::

    {"model": ..., "task": "tatoeba", "subset": "deu-eng", "metric": "accuracy", "value": 97.1,
     "seen": true, "langs": ["deu", "eng"], "n": 1000, "prompt": "query: ", "suite": "quick",
     "date": "2025-01-01T12:00:00+00:00", "fingerprint": "...", ...}

``value`` is x100 (accuracy, error rate, Spearman, F1). ``seen`` is true when every language of the
row is among ``seen_langs`` (a pair is seen only if both sides are), false otherwise, and null when
``seen_langs`` is not given.

Writing to a results file that already holds rows merges: a row replaces the earlier one of the same
(model, task, subset, metric), and every other row is kept — a second evaluation with other tasks
adds to the first.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ConfigError, OutputError
from ..io import (
    prepare_output,
    probe_writable,
    read_jsonl,
    resolve_data_dir,
    write_jsonl_atomic,
    write_text_atomic,
)
from ..langs import canonical, is_seen
from . import bitext, classification
from .encode import Encoder, as_encoder
from .schema import PRIMARY_METRIC
from .tasks import TATOEBA14, EvalContext, plan

log = logging.getLogger(__name__)


def row_seen(langs: list[str], seen_langs: list[str] | None) -> bool | None:
    """All languages of a row seen -> True; any unseen -> False; no training languages known -> None."""
    if seen_langs is None or not langs:
        return None
    return all(is_seen(x, seen_langs) for x in langs)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "model"


def evaluate(
    model,
    suite: str | None = None,
    tasks: list[str] | None = None,
    langs: list[str] | None = None,
    data_dir=None,
    seen_langs: list[str] | None = None,
    out=None,
    *,
    model_name: str | None = None,
    prompt: str | None = None,
    batch_size: int = 32,
    backend: str = "torch",
    cache_dir=None,
    use_cache: bool = True,
    k: int = 4,
    n_experiments: int = classification.DEFAULT_EXPERIMENTS,
    samples_per_label: int = classification.DEFAULT_SAMPLES_PER_LABEL,
    seed: int = classification.DEFAULT_SEED,
    device=None,
    bucc_backend: str = "torch",
    bucc_strategy: str = "max",
    max_sentences: int | None = None,
    max_seq_length: int | None = None,
    pivot: str = "eng",
    pairs: list[tuple[str, str]] | None = None,
    stats: dict | None = None,
) -> list[dict]:
    """Evaluate ``model`` (a SentenceTransformer, any object with ``encode``, or an :class:`Encoder`).

    ``suite``: ``quick``, ``paper`` or ``full`` (see :data:`polyalign.eval.tasks.SUITES`); ``tasks``:
    task strings (``"tatoeba:deu,fra"``, ...), added to the suite's. ``langs`` selects/filters
    languages, ``seen_langs`` marks rows seen/unseen. With ``out`` (a folder, or a ``.jsonl`` path)
    the rows are written to ``<out>/<model>.jsonl`` and the summary to ``<out>/<model>.md``.
    ``max_seq_length`` sets the model's token limit for this evaluation (default: the model's own);
    every row records the limit it was computed at, because scores at different limits are not
    comparable (``polyalign report`` refuses to mix them). ``pivot`` and ``pairs`` are for the
    ``bitext-dir`` task. ``backend``: ``"torch"`` or ``"onnx"`` (see :class:`Encoder`; recorded in
    each row). ``stats``, if a dict, receives timings: ``seconds``, ``task_seconds``,
    ``sentences_encoded``, ``sentences_per_second``, ``cache_hits``. Rows already in that file are
    merged with (see the module docstring). Returns the rows of this evaluation.
    """
    started = time.perf_counter()
    if max_seq_length is not None:
        if max_seq_length < 1:
            raise ConfigError(f"max_seq_length must be >= 1, not {max_seq_length}")
        target = model.model if isinstance(model, Encoder) else model
        if not hasattr(target, "max_seq_length"):
            raise ConfigError("max_seq_length: this model has no token limit to set")
        target.max_seq_length = max_seq_length
    encoder = as_encoder(
        model,
        prompt=prompt,
        batch_size=batch_size,
        cache_dir=cache_dir,
        use_cache=use_cache,
        backend=backend,
    )
    name = model_name or encoder.name
    if out is not None:  # refuse a bad destination before the encoding, not after
        _existing_rows(out, name, create=False)
    ctx = EvalContext(
        encoder=encoder,
        # Not required here: tasks on the user's own files (bitext-dir, sts-file, bucc) need no data folder;
        # the readers of the bundled corpora raise their own one-line error when it is missing.
        data_dir=resolve_data_dir(data_dir, must_exist=False),
        k=k,
        n_experiments=n_experiments,
        samples_per_label=samples_per_label,
        seed=seed,
        device=device,
        bucc_backend=bucc_backend,
        bucc_strategy=bucc_strategy,
        max_sentences=max_sentences,
        pivot=pivot,
        pairs=list(pairs or []),
    )
    seq_len = getattr(encoder.model, "max_seq_length", None)
    planned = plan(ctx, suite=suite, tasks=tasks, langs=langs)
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    rows: list[dict] = []
    task_seconds: dict[str, float] = {}
    for p in planned:
        t0 = time.perf_counter()
        log.info("task %s: %d subset(s)", p.task.name, len(p.items))
        for r in p.task.run(p.items, ctx):
            rows.append(
                {
                    "model": name,
                    "task": p.task.name,
                    "subset": r.pop("subset"),
                    "metric": r.pop("metric"),
                    "value": round(r.pop("value"), 4),
                    "seen": row_seen(r["langs"], seen_langs),
                    **r,
                    "prompt": encoder.prompt,
                    "max_seq_length": seq_len,
                    "backend": encoder.backend,
                    "suite": suite,
                    "date": date,
                    "fingerprint": encoder.fingerprint,
                }
            )
        task_seconds[p.task.name] = task_seconds.get(p.task.name, 0.0) + time.perf_counter() - t0
        log.info("task %s done in %.1f s", p.task.name, time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    log.info(
        "evaluation done in %.1f s; %d sentences encoded (%.0f sentences/s), %d cache hit(s)",
        elapsed,
        encoder.n_encoded,
        encoder.sentences_per_second if encoder.n_encoded else 0.0,
        encoder.cache_hits,
    )
    if stats is not None:
        stats.update(
            seconds=elapsed,
            task_seconds=task_seconds,
            sentences_encoded=encoder.n_encoded,
            encode_seconds=encoder.encode_seconds,
            sentences_per_second=encoder.sentences_per_second,
            cache_hits=encoder.cache_hits,
        )
    if out is not None:
        write_results(rows, out, name, seen_langs=seen_langs)
    return rows


def results_paths(out, model_name: str) -> tuple[Path, Path]:
    out = Path(out)
    if out.suffix == ".jsonl":
        return out, out.with_suffix(".md")
    return out / f"{_safe_name(model_name)}.jsonl", out / f"{_safe_name(model_name)}.md"


def _existing_rows(out, model_name: str, create: bool = True) -> list[dict]:
    """Rows already in the results file for ``model_name`` under ``out`` (a folder or a .jsonl path);
    refuses a folder polyalign did not write and a file that does not hold result rows."""
    jsonl, md = results_paths(out, model_name)
    if Path(out).suffix != ".jsonl":
        prepare_output(out, "eval", resume=True, create=create)
    elif not create:
        probe_writable(jsonl)
    if not jsonl.exists():
        if md.exists():  # polyalign writes the .jsonl first, so this summary is someone else's file
            raise OutputError(
                f"{md}: not written by polyalign (no {jsonl.name} beside it); refusing to replace it"
            )
        return []
    rows = list(read_jsonl(jsonl))
    for i, row in enumerate(rows, start=1):
        if not all(k in row for k in ("task", "subset", "metric", "value")):
            raise OutputError(f"{jsonl}:{i}: not a polyalign result row; refusing to replace the file")
    return rows


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` rows not re-measured in ``new``, then ``new``: newest wins per (model, task, subset, metric)."""

    def key(r: dict) -> tuple:
        return r.get("model"), r["task"], r["subset"], r["metric"]

    fresh = {key(r) for r in new}
    return [r for r in old if key(r) not in fresh] + list(new)


def write_results(rows: list[dict], out, model_name: str, seen_langs=None) -> tuple[Path, Path]:
    jsonl, md = results_paths(out, model_name)
    merged = merge_rows(_existing_rows(out, model_name), rows)
    if len(merged) > len(rows):
        log.info("kept %d row(s) of earlier evaluations in %s", len(merged) - len(rows), jsonl)
    write_jsonl_atomic(jsonl, merged)
    write_text_atomic(md, summarize(merged, seen_langs=seen_langs))
    log.info("wrote %s and %s", jsonl, md)
    return jsonl, md


def _mean(values: list[float]) -> str:
    return f"{np.mean(values):.1f}" if values else "–"


def summarize(rows: list[dict], seen_langs=None) -> str:
    """Markdown: per task, the primary metric's mean over all subsets, seen and unseen ones."""
    if not rows:
        return "No results.\n"
    models = sorted({r["model"] for r in rows})
    lines = [f"# Evaluation: {', '.join(models)}", ""]
    prompt = rows[0].get("prompt")
    meta = [f"prompt: {prompt!r}"]
    if rows[0].get("suite"):
        meta.append(f"suite: {rows[0]['suite']}")
    lengths = sorted({str(r.get("max_seq_length")) for r in rows})
    meta.append("max_seq_length: " + ", ".join(lengths))
    if seen_langs:
        meta.append("seen languages: " + ", ".join(seen_langs))
    lines += ["; ".join(meta), ""]
    lines += ["| task | metric | all | n | seen | n | unseen | n |", "|---|---|---|---|---|---|---|---|"]
    groups: list[tuple[str, str, list[dict]]] = []
    for task in dict.fromkeys(r["task"] for r in rows):
        metric, _ = PRIMARY_METRIC.get(task, ("", True))
        sel = [r for r in rows if r["task"] == task and (r["metric"] == metric or not metric)]
        if not metric and sel:
            metric = sel[0]["metric"]
            sel = [r for r in sel if r["metric"] == metric]
        groups.append((task, metric, sel))
        if task == "tatoeba":
            keys14 = {canonical(x) for x in TATOEBA14}
            sub = [r for r in sel if canonical(r["subset"].split("-")[0]) in keys14]
            if len(sub) == len(keys14) and len(sel) > len(sub):
                groups.append(("tatoeba (XNLI-14)", metric, sub))
    for task, metric, sel in groups:
        arrow = "↓" if not PRIMARY_METRIC.get(task.split(" ")[0], ("", True))[1] else "↑"
        seen = [r["value"] for r in sel if r.get("seen") is True]
        unseen = [r["value"] for r in sel if r.get("seen") is False]
        lines.append(
            f"| {task} | {metric} {arrow} | {_mean([r['value'] for r in sel])} | {len(sel)} | "
            f"{_mean(seen)} | {len(seen)} | {_mean(unseen)} | {len(unseen)} |"
        )
    lines += ["", "Per subset:", ""]
    for task, metric, sel in groups:
        if " " in task:
            continue
        cells = ", ".join(f"{r['subset']} {r['value']:.1f}" + ("*" if r.get("seen") else "") for r in sel)
        lines.append(f"- **{task}** ({metric}): {cells}")
    if seen_langs:
        lines += ["", "\\* seen in training."]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Evaluators for training loops (model selection on dev data only)


def make_dev_evaluator(
    data_dir=None,
    kind: str = "flores-dev-xsim",
    langs: list[str] | None = None,
    max_sentences: int | None = None,
    prompt: str | None = None,
    k: int = 4,
    batch_size: int = 32,
) -> Callable[[object], dict[str, float]]:
    """A callable ``evaluator(model) -> {name: value}`` for model selection during training.

    ``kind="flores-dev-xsim"``: xsim error (lower is better) on FLORES-200 **dev** (never devtest)
    for ``langs`` <-> English; ``kind="tatoeba"``: Tatoeba accuracy; ``max_sentences`` keeps the first
    N lines of each set (a fixed, cheap dev set). Texts are read once; embeddings
    are recomputed at every call (the weights change) and never cached on disk. The result holds one
    value per language and ``"mean"``; the evaluator's ``higher_is_better`` attribute says which way is
    better.
    """
    from ..data.readers import (
        flores_languages,
        read_flores,
        read_tatoeba_pair,
        resolve_code,
        tatoeba_languages,
    )

    root = resolve_data_dir(data_dir)
    if kind == "flores-dev-xsim":
        avail = flores_languages(root, "dev")
        codes = [
            resolve_code(x, avail, where="FLORES-200 dev") for x in (langs or ["deu", "fra", "rus", "zho"])
        ]
        eng = resolve_code("eng", avail, where="FLORES-200 dev")
        texts = read_flores(root, "dev", list(dict.fromkeys(codes + [eng])))
        if max_sentences:
            texts = {c: t[:max_sentences] for c, t in texts.items()}

        def score(enc: Encoder) -> dict[str, float]:
            emb = {c: enc.encode(t) for c, t in texts.items()}
            # LASER's xsim in the direction LASER reports, xxx -> eng (as the flores-xsim task).
            return {
                f"xsim_error/{c}": bitext.xsim_error_rate(emb[c], emb[eng], k=k, tgt_texts=texts[eng])
                for c in codes
            }

        higher_is_better = False
    elif kind == "tatoeba":
        avail = tatoeba_languages(root)
        codes = [resolve_code(x, avail, where="Tatoeba") for x in (langs or ["deu", "fra", "rus", "cmn"])]
        pairs = {c: read_tatoeba_pair(root, c) for c in codes}
        if max_sentences:
            pairs = {c: (s[:max_sentences], e[:max_sentences]) for c, (s, e) in pairs.items()}

        def score(enc: Encoder) -> dict[str, float]:
            out = {}
            for c, (src, eng) in pairs.items():
                x, y = enc.encode(src), enc.encode(eng)
                out[f"accuracy/{c}"] = bitext.retrieval_accuracy(y, x)  # XTREME's direction, eng -> xxx
            return out

        higher_is_better = True
    else:
        raise ConfigError(f"unknown dev evaluator kind {kind!r} (flores-dev-xsim, tatoeba)")

    def evaluator(model) -> dict[str, float]:
        # sentence-transformers' encode() switches the model to eval mode; give training mode back.
        was_training = bool(getattr(model, "training", False))
        try:
            enc = Encoder(model, prompt=prompt, batch_size=batch_size, use_cache=False, show_progress=False)
            out = score(enc)
        finally:
            if was_training and hasattr(model, "train"):
                model.train()
        out["mean"] = float(np.mean(list(out.values())))
        return out

    evaluator.higher_is_better = higher_is_better
    evaluator.kind = kind
    return evaluator
