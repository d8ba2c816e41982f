"""MtebEncoder under mteb 2, offline: tasks get their rows set locally instead of from the hub."""

from __future__ import annotations

import numpy as np
import pytest

mteb = pytest.importorskip("mteb", minversion="2.1", reason="needs mteb>=2.1 (pip install 'mteb>=2.1,<3')")

from datasets import Dataset, DatasetDict  # noqa: E402

from polyalign.eval import classification, sts  # noqa: E402
from polyalign.eval.encode import Encoder  # noqa: E402
from polyalign.eval.mteb_adapter import MtebEncoder  # noqa: E402
from polyalign.eval.runner import evaluate  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = "the a cat dog bird sat ran flew on under mat tree house big small red old new".split()
    return [" ".join(rng.choice(words, rng.integers(3, 9))) + f" {i}" for i in range(n)]


def test_adapter_is_an_mteb2_encoder(tiny_encoder):
    from mteb.models import EncoderProtocol, ModelMeta

    model = MtebEncoder(tiny_encoder, name="tiny")
    assert isinstance(model, EncoderProtocol)
    meta = model.mteb_model_meta
    assert isinstance(meta, ModelMeta) and meta.name == "polyalign/tiny"
    assert meta.revision == Encoder(tiny_encoder).fingerprint == model.revision
    assert meta.similarity_fn_name == "cosine"
    assert MtebEncoder(tiny_encoder, prompt="query: ").revision.startswith(model.revision + "-p")
    e = model.encode(["hello", "world", "hello world"], task_metadata=None, hf_split="test", hf_subset="x")
    sim = np.asarray(model.similarity(e, e))
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1, atol=1e-5)
    assert np.allclose(
        np.asarray(model.similarity_pairwise(e, e[::-1].copy())), sim[[0, 1, 2], [2, 1, 0]], atol=1e-6
    )


def test_mteb_evaluate_sts17_offline_equals_polyalign(tiny_encoder):
    s1, s2 = _sentences(40, 0), _sentences(40, 1)
    gold = np.round(np.random.default_rng(2).uniform(0, 5, 40), 1).tolist()
    task = mteb.get_task("STS17", hf_subsets=["en-en"])
    task.dataset = {
        "en-en": DatasetDict(test=Dataset.from_dict({"sentence1": s1, "sentence2": s2, "score": gold}))
    }
    task.data_loaded = True
    model = MtebEncoder(tiny_encoder)
    result = mteb.evaluate(model, task, cache=None, show_progress_bar=False)
    (scores,) = result.task_results[0].scores["test"]
    enc = Encoder(tiny_encoder, use_cache=False)
    ours = sts.spearman(sts.cosine_rows(enc.encode(s1), enc.encode(s2)), gold)
    assert scores["hf_subset"] == "en-en"
    assert ours / 100 == pytest.approx(scores["main_score"], abs=1e-6)


def _sib_split(data) -> Dataset:
    return Dataset.from_dict(
        {"index_id": list(range(len(data.texts))), "category": data.labels, "text": data.texts}
    )


@pytest.mark.data
def test_mteb_evaluate_sib200_equals_polyalign_eval(tiny_encoder, data_dir):
    """`polyalign eval --tasks sib200:eng_Latn` and mteb.evaluate(SIB200Classification) on the same
    local SIB-200 files and the same model give the same accuracy."""
    train = classification.read_sib200(data_dir, "eng_Latn", "train")
    test = classification.read_sib200(data_dir, "eng_Latn", "test")
    task = mteb.get_task("SIB200Classification", languages=["eng"], eval_splits=["test"])
    task.dataset = {"eng_Latn": DatasetDict(train=_sib_split(train), test=_sib_split(test))}
    task.dataset_transform()  # mteb's own: category -> class ids, drop index_id
    task.data_loaded = True
    result = mteb.evaluate(MtebEncoder(tiny_encoder), task, cache=None, show_progress_bar=False)
    (ref,) = result.task_results[0].scores["test"]

    rows = evaluate(tiny_encoder, tasks=["sib200:eng_Latn"], data_dir=data_dir, use_cache=False)
    by = {r["metric"]: r["value"] for r in rows if r["task"] == "sib200"}
    assert by["accuracy"] / 100 == pytest.approx(ref["accuracy"], abs=1e-6)
    assert by["f1_macro"] / 100 == pytest.approx(ref["f1"], abs=1e-6)
