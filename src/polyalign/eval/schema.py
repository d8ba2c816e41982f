"""What a result row means: each task's primary metric and its direction (no heavy imports)."""

from __future__ import annotations

# The score each task is summarised by (other metrics are extra rows), and whether higher is better.
PRIMARY_METRIC: dict[str, tuple[str, bool]] = {
    "tatoeba": ("accuracy", True),
    "flores-xsim": ("xsim_error", False),
    "flores-dev-xsim": ("xsim_error", False),
    "sts17-semeval": ("spearman", True),
    "stsb": ("spearman", True),
    "stsb-x": ("spearman", True),
    "sts-file": ("spearman", True),
    "sib200": ("accuracy", True),
    "sib200-x": ("accuracy", True),
    "cls-file": ("accuracy", True),
    "bucc": ("f1", True),
    "bitext-dir": ("accuracy", True),
}

# Metrics where lower is better (wherever they appear).
LOWER_IS_BETTER = {"xsim_error", "xsim_error_src2tgt", "xsim_error_tgt2src"}

ROW_KEYS = ("model", "task", "subset", "metric", "value", "seen", "langs", "prompt", "suite", "date")


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def primary_metric(task: str) -> str | None:
    entry = PRIMARY_METRIC.get(task)
    return entry[0] if entry else None


# MTEB's classification protocol (AbsTaskClassification, mteb 2.x; checked in test_mteb_reference.py):
# the defaults of polyalign.eval.classification, the runner and `polyalign eval`.
DEFAULT_EXPERIMENTS = 10
DEFAULT_SAMPLES_PER_LABEL = 8
DEFAULT_SEED = 42
