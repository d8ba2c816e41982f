"""polyalign's MTEB-named metrics against mteb's own evaluators, on identical fixed embeddings.

Each test builds an mteb 2 task (SIB200Classification, Tatoeba, STS17) with a few synthetic rows
set in place of its hub data, runs the task's own ``evaluate`` with an encoder that answers every
text with a fixed vector, and runs polyalign's function on the same vectors. Scores must agree to
1e-6 (mteb reports fractions, polyalign x100).
"""

from __future__ import annotations

import numpy as np
import pytest

mteb = pytest.importorskip("mteb", minversion="2.1", reason="needs mteb>=2.1 (pip install 'mteb>=2.1,<3')")

from datasets import Dataset, DatasetDict  # noqa: E402

from polyalign.eval import bitext, classification, sts  # noqa: E402

TOPICS = ["entertainment", "geography", "health", "politics", "science/technology", "sports", "travel"]
ENCODE = {"batch_size": 32, "show_progress_bar": False}


class TableEncoder:
    """mteb 2 ``EncoderProtocol`` that looks every text up in a fixed table of embeddings."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def encode(self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
        return np.stack([self.table[t] for batch in inputs for t in batch["text"]])

    def similarity(self, a, b):
        from mteb.similarity_functions import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(a, b)

    @property
    def mteb_model_meta(self):
        from mteb.models import ModelMeta

        unknown = dict.fromkeys(
            "loader release_date languages n_parameters memory_usage_mb max_tokens embed_dim license "
            "open_weights public_training_code public_training_data use_instructions training_datasets".split()
        )
        return ModelMeta(
            name="polyalign-tests/table",
            revision="0",
            framework=["NumPy"],
            similarity_fn_name="cosine",
            **unknown,
        )


def _table(texts, emb) -> TableEncoder:
    assert len(set(texts)) == len(texts)
    return TableEncoder(dict(zip(texts, emb)))


# ------------------------------------------------------------------------------------------------
# SIB200Classification


def test_sib200_protocol_constants_are_mtebs():
    from sklearn.linear_model import LogisticRegression

    task = mteb.get_task("SIB200Classification", languages=["eng"], eval_splits=["test"])
    assert task.n_experiments == classification.DEFAULT_EXPERIMENTS == 10
    assert task.samples_per_label == classification.DEFAULT_SAMPLES_PER_LABEL == 8
    assert task.seed == classification.DEFAULT_SEED == 42
    assert task.train_split == "train" and task.metadata.main_score == "accuracy"
    model = task.evaluator_model
    assert type(model) is LogisticRegression
    defaults = LogisticRegression().get_params()
    changed = {k: v for k, v in model.get_params().items() if v != defaults[k]}
    # Earlier mteb 2 releases set n_jobs=-1, which lbfgs ignores. evaluate sets random_state = seed on
    # this instance, which is shared by the class: it is there if another test evaluated first.
    changed.pop("n_jobs", None)
    assert changed.pop("random_state", task.seed) == task.seed
    assert changed == {} and model.max_iter == classification.MAX_ITER


def _sib_like(n_train=701, n_test=204, dim=24, noise=2.5, seed=0):
    """SIB-200-sized synthetic data: 7 topics, overlapping clusters (accuracy well below 100, so every
    experiment's score depends on exactly which training rows it drew)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(TOPICS), dim)).astype(np.float32)
    y_train = rng.integers(0, len(TOPICS), n_train)
    y_test = rng.integers(0, len(TOPICS), n_test)
    x_train = (centers[y_train] + noise * rng.normal(size=(n_train, dim))).astype(np.float32)
    x_test = (centers[y_test] + noise * rng.normal(size=(n_test, dim))).astype(np.float32)
    return x_train, [TOPICS[i] for i in y_train], x_test, [TOPICS[i] for i in y_test]


def _mteb_sib200(x_train, y_train, x_test, y_test) -> dict:
    """mteb's SIB200Classification on these rows, through its own dataset_transform (category strings
    -> class ids) and evaluate (undersampling, LogisticRegression, averaging)."""
    task = mteb.get_task("SIB200Classification", languages=["eng"], eval_splits=["test"])
    train_texts = [f"train {i}" for i in range(len(y_train))]
    test_texts = [f"test {i}" for i in range(len(y_test))]

    def split(texts, labels):
        return Dataset.from_dict({"index_id": list(range(len(texts))), "category": labels, "text": texts})

    task.dataset = {
        "eng_Latn": DatasetDict(train=split(train_texts, y_train), test=split(test_texts, y_test))
    }
    task.dataset_transform()
    task.data_loaded = True
    model = _table(train_texts + test_texts, np.concatenate([x_train, x_test]))
    return task.evaluate(model, "test", encode_kwargs=dict(ENCODE))["eng_Latn"]


def test_classification_matches_mteb_sib200():
    x_train, y_train, x_test, y_test = _sib_like()
    ref = _mteb_sib200(x_train, y_train, x_test, y_test)
    per_exp = [e["accuracy"] for e in ref["scores_per_experiment"]]
    assert 0.3 < ref["accuracy"] < 0.9 and len(set(per_exp)) > 1  # the draw matters

    ours = classification.evaluate_classification(x_train, y_train, x_test, y_test)
    assert ours["accuracy"] / 100 == pytest.approx(ref["accuracy"], abs=1e-6)
    assert ours["f1_macro"] / 100 == pytest.approx(ref["f1"], abs=1e-6)
    assert ours["accuracy_sd"] / 100 == pytest.approx(float(np.std(per_exp)), abs=1e-6)


def test_transfer_on_sampled_rows_matches_mteb_sib200():
    """The SIB task's path: sample_indices first, encode only their union (other rows zero), then
    evaluate_transfer with those splits."""
    x_train, y_train, x_test, y_test = _sib_like(seed=1)
    ref = _mteb_sib200(x_train, y_train, x_test, y_test)

    splits = classification.sample_indices(y_train)
    used = np.unique(np.concatenate(splits))
    assert len(splits) == 10 and all(len(s) == 8 * len(TOPICS) for s in splits)
    sparse = np.zeros_like(x_train)
    sparse[used] = x_train[used]
    ours = classification.evaluate_transfer(sparse, y_train, {"eng": (x_test, y_test)}, splits=splits)["eng"]
    assert ours["accuracy"] / 100 == pytest.approx(ref["accuracy"], abs=1e-6)
    assert ours["f1_macro"] / 100 == pytest.approx(ref["f1"], abs=1e-6)


# ------------------------------------------------------------------------------------------------
# Tatoeba (BitextMining)


def test_bitext_accuracy_matches_mteb_tatoeba_direction():
    """mteb's Tatoeba: sentence1 (the xxx side of subset "xxx-eng") queries sentence2 (English) by
    cosine; accuracy = share of rows i whose nearest sentence2 is row i. polyalign's
    retrieval_accuracy(x, y) is that same direction."""
    rng = np.random.default_rng(3)
    n, dim = 300, 16
    base = rng.normal(size=(n, dim))
    # Anisotropic noise on one side only makes the two directions score differently.
    x = (base + 0.9 * rng.normal(size=(n, dim))).astype(np.float32)
    y = (base * np.linspace(0.2, 2.0, dim) + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)
    src, eng = [f"deu {i}" for i in range(n)], [f"eng {i}" for i in range(n)]

    task = mteb.get_task("Tatoeba", languages=["deu"])
    assert task.hf_subsets == ["deu-eng"] and task.metadata.main_score == "f1"
    task.dataset = {"deu-eng": DatasetDict(test=Dataset.from_dict({"sentence1": src, "sentence2": eng}))}
    task.data_loaded = True
    ref = task.evaluate(_table(src + eng, np.concatenate([x, y])), "test", encode_kwargs=dict(ENCODE))
    ref = ref["deu-eng"]

    xx2en, en2xx = bitext.retrieval_accuracy(x, y), bitext.retrieval_accuracy(y, x)
    assert 20 < xx2en < 95 and abs(xx2en - en2xx) > 1  # a test that can tell the directions apart
    assert xx2en / 100 == pytest.approx(ref["accuracy"], abs=1e-6)


# ------------------------------------------------------------------------------------------------
# STS17


def test_sts_spearman_matches_mteb_sts17_cosine_spearman():
    """mteb's STS: gold scores normalised to [0, 1] by (score - 0) / 5 (rank-preserving), main score
    cosine_spearman = Spearman(gold, cosine(e1, e2)); polyalign reports it x100."""
    rng = np.random.default_rng(4)
    n, dim = 250, 16
    e1 = rng.normal(size=(n, dim)).astype(np.float32)
    e2 = (e1 + 1.5 * rng.normal(size=(n, dim))).astype(np.float32)
    cos = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    gold = np.clip(np.round((2.5 + 4 * cos + rng.normal(size=n)) * 2) / 2, 0, 5)  # half points: ties
    s1, s2 = [f"a {i}" for i in range(n)], [f"b {i}" for i in range(n)]

    task = mteb.get_task("STS17", hf_subsets=["en-en"])
    assert task.metadata.main_score == "cosine_spearman" and (task.min_score, task.max_score) == (0, 5)
    data = Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": gold.tolist()})
    task.dataset = {"en-en": DatasetDict(test=data)}
    task.data_loaded = True
    ref = task.evaluate(_table(s1 + s2, np.concatenate([e1, e2])), "test", encode_kwargs=dict(ENCODE))
    ref = ref["en-en"]

    ours = sts.spearman(sts.cosine_rows(e1, e2), gold)
    assert 30 < ours < 95
    assert ours / 100 == pytest.approx(ref["cosine_spearman"], abs=1e-6)
    assert ref["main_score"] == ref["cosine_spearman"]
