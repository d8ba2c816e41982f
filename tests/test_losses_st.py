"""sentence-transformers adapters: equivalence with the functional losses and a real trainer run."""

from __future__ import annotations

import pytest
import torch

from polyalign.losses import (
    InfoNCELoss,
    LossInputError,
    MSEDistillationLoss,
    MultiPositiveLoss,
    SoftLabelLoss,
    info_nce,
    mse_distillation,
    multi_positive_loss,
    soft_label_loss,
    soft_targets,
    teacher_positive_weights,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 1-layer BERT (hidden 32) from :mod:`polyalign.models.tiny`; nothing downloaded."""
    from polyalign.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_bert"), layers=1, dropout=0.0, max_seq_length=32)


def _features(model, *columns):
    return [model.preprocess(list(col)) for col in columns]


def _encode(model, sentences):
    return model(model.preprocess(list(sentences)))["sentence_embedding"]


GROUPS = [
    ("the cat sat", "le chat", "der katze"),
    ("the dog ran", "le chien", "der hund"),
    ("a big house", "maison", ""),  # missing third translation
    ("a red mat", "the mat", "on a mat"),
]
PRESENT = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]])


def test_multi_positive_adapter_flattens_rows_into_groups(tiny_model):
    model = tiny_model.eval()
    cols = list(zip(*GROUPS))
    neg = ["small red", "big dog", "the haus", "on the cat"]
    loss_mod = MultiPositiveLoss(model, temperature=0.1, form="out", num_hard_negative_columns=1)
    with torch.no_grad():
        got = loss_mod(_features(model, *cols, neg), PRESENT)
        # Column-major flattening with the missing cell removed; group id = row index.
        kept = [(s, r) for c, col in enumerate(cols) for r, s in enumerate(col) if PRESENT[r, c]]
        emb = _encode(model, [s for s, _ in kept])
        want = multi_positive_loss(
            emb,
            torch.tensor([r for _, r in kept]),
            0.1,
            form="out",
            hard_negatives=_encode(model, neg),
            hard_negative_group_ids=torch.arange(4),
        )
    torch.testing.assert_close(got, want)
    with pytest.raises(LossInputError, match="presence mask"):
        loss_mod(_features(model, *cols, neg), torch.ones(4))


def test_multi_positive_adapter_with_teacher_weights(tiny_model):
    model = tiny_model.eval()
    cols = list(zip(*GROUPS))[:2]
    loss_mod = MultiPositiveLoss(model, teacher=model, teacher_temperature=0.2)
    with torch.no_grad():
        got = loss_mod(_features(model, *cols), None)
        emb = _encode(model, [s for col in cols for s in col])
        ids = torch.arange(4).repeat(2)
        want = multi_positive_loss(emb, ids, weights=teacher_positive_weights(emb, ids, 0.2))
    torch.testing.assert_close(got, want)


def test_pair_adapters_match_functional_losses(tiny_model):
    model = tiny_model.eval()
    x = ["the cat sat", "the dog ran", "a big house", "a red mat"]
    y = ["le chat", "le chien", "maison", "the mat"]
    with torch.no_grad():
        ex, ey = _encode(model, x), _encode(model, y)
        teacher = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(
            InfoNCELoss(model, symmetric=True)(_features(model, x, y), None), info_nce(ex, ey, symmetric=True)
        )
        w = soft_targets(teacher, strategy="priority", teacher_temperature=0.1)
        torch.testing.assert_close(
            SoftLabelLoss(model, teacher_temperature=0.1, tcm=True)(_features(model, x, y), teacher),
            soft_label_loss(ex, ey, w, tcm=True),
        )
        # Teacher module on the student's tokenisation, "average" needs both sides.
        w_avg = soft_targets(ex, ey, strategy="average")
        torch.testing.assert_close(
            SoftLabelLoss(model, teacher=model, strategy="average")(_features(model, x, y), None),
            soft_label_loss(ex, ey, w_avg),
        )
        torch.testing.assert_close(
            MSEDistillationLoss(model)(_features(model, x, y), teacher), mse_distillation(ex, ey, teacher)
        )
    with pytest.raises(LossInputError, match="teacher"):
        SoftLabelLoss(model)(_features(model, x, y), None)


def test_trainer_runs_two_steps_with_multi_positive_adapter(tiny_model, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    model = tiny_model.train()
    rows = GROUPS * 2
    dataset = Dataset.from_dict(
        {
            "anchor": [r[0] for r in rows],
            "positive_1": [r[1] for r in rows],
            "positive_2": [r[2] for r in rows],
            "label": PRESENT.repeat(2, 1).tolist(),
        }
    )
    before = [p.detach().clone() for p in model.parameters()]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        save_strategy="no",
        report_to="none",
        logging_steps=1,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=MultiPositiveLoss(model, minmax=True)
    )
    result = trainer.train()
    assert result.global_step == 2
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(b, a.detach()) for b, a in zip(before, model.parameters()))
