"""Classification with a logistic regression on frozen embeddings, exactly as MTEB's
``AbsTaskClassification`` (the protocol of ``SIB200Classification``; checked against mteb's own code
in ``tests/test_mteb_reference.py``).

MTEB's protocol (mteb 2.x; the defaults here):

* ``n_experiments=10`` experiments, each on at most ``samples_per_label=8`` training examples per
  label. Undersampling: one list of training indices ``0..n-1`` is shuffled in place by a *fresh*
  ``np.random.RandomState(seed)`` at every experiment (``seed=42``, the task's seed), so experiment
  ``e`` uses that permutation applied ``e + 1`` times; the first ``samples_per_label`` indices of each
  label in that order are kept, in that order (it is also the order the classifier is fitted in).
* Classifier: ``LogisticRegression(max_iter=100, random_state=seed)``, everything else sklearn's
  default (lbfgs, C=1, no ``n_jobs``), fitted on the embeddings as given (no cast, no normalisation).
* Scores on the full test split (no subsampling): accuracy and macro F1, the plain mean over the
  experiments. MTEB reports fractions; polyalign reports x100 and adds ``accuracy_sd`` (population
  standard deviation over experiments; MTEB reports none).

Any other ``samples_per_label`` / ``n_experiments`` is not MTEB's protocol; result rows record both.
(polyalign's earlier default, 32 per label with a ``default_rng`` shuffle, is gone: its numbers are
not comparable with MTEB's.) ``evaluate_transfer`` is polyalign's zero-shot cross-lingual variant:
the same classifiers, fitted once on the source language (English), scored on every target language.

Readers: :func:`read_sib200` (``sib200/annotated/<flores_code>/{train,dev,test}.tsv``: index_id,
category, text, CSV-quoted) and :func:`read_classification_file` (any TSV/CSV of text + label).
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..io import read_lines, resolve_data_dir

# MTEB's AbsTaskClassification defaults (SIB200Classification keeps them) live in .schema, which
# imports nothing heavy, so that `polyalign eval --help` stays fast.
from .schema import DEFAULT_EXPERIMENTS, DEFAULT_SAMPLES_PER_LABEL, DEFAULT_SEED

MAX_ITER = 100


@dataclass
class ClassificationData:
    texts: list[str]
    labels: list[str]
    name: str = ""

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels")
        if not self.texts:
            raise DataError(f"{self.name}: no examples")


def undersample(labels, samples_per_label: int, order) -> np.ndarray:
    """The first ``samples_per_label`` indices of each label, taken in ``order`` and kept in that order."""
    labels = np.asarray(labels)
    counts: dict = {}
    keep = []
    for i in order:
        c = counts.get(labels[i], 0)
        if c < samples_per_label:
            counts[labels[i]] = c + 1
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _fit(x, y, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf


def _check(train_x, train_y, n_experiments, samples_per_label):
    if n_experiments < 1 or samples_per_label < 1:
        raise ConfigError("n_experiments and samples_per_label must be >= 1")
    if len(train_x) == 0:
        raise DataError("empty training set")
    if len(train_x) != len(train_y):
        raise DataError(f"{len(train_x)} training embeddings but {len(train_y)} labels")
    if len(set(np.asarray(train_y).tolist())) < 2:
        raise DataError("training set needs at least 2 distinct labels")


def sample_indices(
    train_y,
    n_experiments: int = DEFAULT_EXPERIMENTS,
    samples_per_label: int = DEFAULT_SAMPLES_PER_LABEL,
    seed: int = DEFAULT_SEED,
) -> list[np.ndarray]:
    """The training indices of each experiment, as MTEB's ``_undersample_data`` draws them (see the
    module docstring). Callers can encode only the union of these rows: the others are never used."""
    order = list(range(len(train_y)))  # a list, shuffled in place, as mteb does
    splits = []
    for _ in range(n_experiments):
        np.random.RandomState(seed).shuffle(order)
        splits.append(undersample(train_y, samples_per_label, order))
    return splits


def stratified_subset(labels, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of about ``n`` examples keeping the label proportions (seeded; for caps on test sets)."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    keep = []
    values, counts = np.unique(labels, return_counts=True)
    quotas = np.floor(counts * n / len(labels)).astype(int)
    # Hand the remaining slots to the labels with the largest remainders, so the total is exactly n.
    rest = n - quotas.sum()
    order = np.argsort(-(counts * n / len(labels) - quotas), kind="stable")
    quotas[order[:rest]] += 1
    for value, q in zip(values, quotas):
        idx = np.flatnonzero(labels == value)
        keep += rng.choice(idx, size=min(q, len(idx)), replace=False).tolist()
    return np.array(sorted(keep), dtype=np.int64)


def evaluate_transfer(
    train_x,
    train_y,
    tests: dict[str, tuple[np.ndarray, list]],
    n_experiments: int = DEFAULT_EXPERIMENTS,
    samples_per_label: int = DEFAULT_SAMPLES_PER_LABEL,
    seed: int = DEFAULT_SEED,
    splits: list[np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit ``n_experiments`` classifiers on (``train_x``, ``train_y``), score each on every test set.

    ``tests``: ``{name: (embeddings, labels)}``. ``splits``: the training indices per experiment
    (default :func:`sample_indices` with ``seed``); rows of ``train_x`` outside them are never read.
    Returns ``{name: {"accuracy", "accuracy_sd", "f1_macro"}}`` (x100, mean over experiments).
    """
    from sklearn.metrics import f1_score

    # No dtype cast: sklearn fits float32 and float64 differently, and mteb passes the model's output as is.
    train_x = np.asarray(train_x)
    train_y = np.asarray(train_y)
    _check(train_x, train_y, n_experiments, samples_per_label)
    for name, (x, y) in tests.items():
        if len(x) == 0:
            raise DataError(f"{name}: empty test set")
        if len(x) != len(y):
            raise DataError(f"{name}: {len(x)} test embeddings but {len(y)} labels")
    if splits is None:
        splits = sample_indices(train_y, n_experiments, samples_per_label, seed)
    acc: dict[str, list[float]] = {name: [] for name in tests}
    f1: dict[str, list[float]] = {name: [] for name in tests}
    for idx in splits:
        clf = _fit(train_x[idx], train_y[idx], seed)
        for name, (x, y) in tests.items():
            pred = clf.predict(np.asarray(x))
            y = np.asarray(y)
            acc[name].append(100.0 * float((pred == y).mean()))
            f1[name].append(100.0 * float(f1_score(y, pred, average="macro")))
    return {
        name: {
            "accuracy": float(np.mean(acc[name])),
            "accuracy_sd": float(np.std(acc[name])),
            "f1_macro": float(np.mean(f1[name])),
        }
        for name in tests
    }


def evaluate_classification(
    train_x,
    train_y,
    test_x,
    test_y,
    n_experiments: int = DEFAULT_EXPERIMENTS,
    samples_per_label: int = DEFAULT_SAMPLES_PER_LABEL,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """In-language classification: ``{"accuracy", "accuracy_sd", "f1_macro"}`` x100."""
    return evaluate_transfer(
        train_x, train_y, {"test": (test_x, test_y)}, n_experiments, samples_per_label, seed
    )["test"]


# ------------------------------------------------------------------------------------------------
# Readers


def _csv_rows(path: Path, delimiter: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO("\n".join(read_lines(path))), delimiter=delimiter) if r]


def sib200_languages(data_dir=None) -> list[str]:
    folder = resolve_data_dir(data_dir) / "sib200" / "annotated"
    if not folder.is_dir():
        raise DataError("SIB-200 folder not found", folder)
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def read_sib200(data_dir=None, lang: str = "eng_Latn", split: str = "train") -> ClassificationData:
    """SIB-200 ``annotated/<lang>/<split>.tsv`` (index_id, category, text); ``lang`` in any code style."""
    from ..data.readers import resolve_code

    if split not in ("train", "dev", "test"):
        raise DataError(f"SIB-200 split must be train, dev or test, not {split!r}")
    folder = resolve_data_dir(data_dir) / "sib200" / "annotated"
    code = resolve_code(lang, sib200_languages(data_dir), where=str(folder))
    path = folder / code / f"{split}.tsv"
    if not path.is_file():
        raise DataError("file not found", path)
    rows = _csv_rows(path, "\t")
    if rows and rows[0][:2] == ["index_id", "category"]:
        rows = rows[1:]
    texts, labels = [], []
    for i, row in enumerate(rows, start=2):
        if len(row) != 3:
            raise DataError(f"expected 3 fields (index_id, category, text), got {len(row)}", path, i)
        labels.append(row[1])
        texts.append(row[2])
    return ClassificationData(texts, labels, f"sib200/{code}/{split}")


_TEXT = {"text", "sentence", "sentence1", "content", "utterance"}
_LABEL = {"label", "category", "class", "intent", "labels"}


def read_classification_file(path) -> ClassificationData:
    """A ``.tsv``/``.csv`` of text + label: by header names (``text``/``sentence``, ``label``/
    ``category``), or without a header ``text<TAB>label`` (two columns)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    rows = _csv_rows(path, "," if path.suffix.lower() == ".csv" else "\t")
    if not rows:
        raise DataError("empty file", path)
    header = [c.strip().lower() for c in rows[0]]
    it, il, start = 0, 1, 0
    if any(c in _TEXT for c in header) and any(c in _LABEL for c in header):
        it = next(i for i, c in enumerate(header) if c in _TEXT)
        il = next(i for i, c in enumerate(header) if c in _LABEL)
        start = 1
    elif len(rows[0]) != 2:
        raise DataError(
            f"expected a header with text and label columns, or two columns (text, label); got {rows[0]}",
            path,
            1,
        )
    texts, labels = [], []
    for n, row in enumerate(rows[start:], start=start + 1):
        if len(row) <= max(it, il):
            raise DataError(f"expected at least {max(it, il) + 1} fields, got {len(row)}", path, n)
        texts.append(row[it])
        labels.append(row[il].strip())
    return ClassificationData(texts, labels, f"cls-file/{path.name}")
