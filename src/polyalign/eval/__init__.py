"""Evaluation: bitext retrieval/mining, STS, classification, suites and a runner.

Public API (imported lazily, so ``import polyalign.eval`` stays cheap)::

    from polyalign.eval import evaluate, make_dev_evaluator, Encoder
    rows = evaluate(model, suite="quick", seen_langs=["en", "de"], out="results/")
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "evaluate": "runner",
    "summarize": "runner",
    "make_dev_evaluator": "runner",
    "write_results": "runner",
    "Encoder": "encode",
    "model_fingerprint": "encode",
    "retrieval_accuracy": "bitext",
    "xsim_error_rate": "bitext",
    "margin_matrix": "bitext",
    "mine": "bitext",
    "bucc_evaluate": "bitext",
    "bucc_candidates": "bitext",
    "spearman": "sts",
    "evaluate_sts": "sts",
    "evaluate_classification": "classification",
    "evaluate_transfer": "classification",
    "SUITES": "tasks",
    "TASKS": "tasks",
    "MtebEncoder": "mteb_adapter",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
