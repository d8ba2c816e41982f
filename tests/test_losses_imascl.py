"""Soft contrastive learning at IMASCL's reference setting: margin + threshold, the summed
combination of cross and monolingual terms, and the similarity-matrix MSE baseline.

Three kinds of check: naive float64 loops written from the docstring equations, gradcheck, and a
re-enactment of IMASCL's own code path (YAI12xLinq-B/IMASCL, commit
c687c6037aafe1a82257f938d399207815a1b337, modules/AMETrainer.py) against which polyalign's
functions must give the same value.
"""

from __future__ import annotations

import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from polyalign.config import config_from_args
from polyalign.errors import ConfigError
from polyalign.losses import (
    LossInputError,
    positive_mask,
    similarity_mse,
    soft_label_loss,
    soft_targets,
    teacher_similarity,
)
from polyalign.train import TrainConfig
from polyalign.train.batching import StepBatch
from polyalign.train.objectives import make_objective

F64 = torch.float64
TAU = 0.1  # IMASCL's --tau: the student's and the teacher's temperature (train.py:139-144)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def close(actual: torch.Tensor, expected: float, tol: float = 1e-6) -> None:
    assert math.isclose(float(actual), expected, rel_tol=tol, abs_tol=tol), (float(actual), expected)


def teacher_with_near_duplicates(b: int = 6, d: int = 8, seed: int = 0) -> torch.Tensor:
    """Teacher embeddings where rows 0/3 and 1/4 are near-duplicates (cos > 0.95, off-diagonal)."""
    t = rand(b, d, seed=seed)
    t[3] = t[0] + 0.05 * rand(d, seed=seed + 100)
    t[4] = t[1] + 0.05 * rand(d, seed=seed + 101)
    return t


# ---------------------------------------------------------------------------------------------
# Naive references: one entry at a time, Python floats, straight from the docstring equations.
# ---------------------------------------------------------------------------------------------


def cos(u: torch.Tensor, v: torch.Tensor) -> float:
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def ref_teacher_sims(tx, ty, strategy) -> list[list[float]]:
    b = len(tx)
    if strategy == "hard":
        return [[float(i == j) for j in range(b)] for i in range(b)]
    if strategy == "priority":
        return [[cos(tx[i], tx[j]) for j in range(b)] for i in range(b)]
    return [[0.5 * (cos(tx[i], tx[j]) + cos(ty[i], ty[j])) for j in range(b)] for i in range(b)]


def ref_combine(cross: list[float], mono: list[list[float]], combine: str, lam: float) -> float:
    lam = lam if mono else 1.0
    if combine == "sum":
        return lam * sum(cross) + sum(sum(space) for space in mono)
    out = lam * sum(cross) / len(cross)
    if mono:
        out += sum(sum(space) / len(space) for space in mono) / len(mono)
    return out


def ref_soft(x, y, w, tau, margin, mask, symmetric, tcm, lam, combine) -> float:
    """mask[i][j]: whether entry (i, j) gets the margin; the transposed direction uses mask[j][i]."""
    b = len(x)

    def ce(q, k, transposed: bool) -> float:
        total = 0.0
        for i in range(b):
            z = []
            for j in range(b):
                m = mask[j][i] if transposed else mask[i][j]
                z.append((cos(q[i], k[j]) - (margin if m else 0.0)) / tau)
            den = sum(math.exp(v) for v in z)
            total += -sum(float(w[i][j]) * math.log(math.exp(z[j]) / den) for j in range(b))
        return total / b

    def space(q, k) -> list[float]:
        return [ce(q, k, False), ce(k, q, True)] if symmetric else [ce(q, k, False)]

    mono = [space(x, x), space(y, y)] if tcm else []
    return ref_combine(space(x, y), mono, combine, lam)


def ref_sim_mse(x, y, t, tau, symmetric, tcm, lam, combine) -> float:
    b = len(x)

    def mse(q, k, transposed: bool) -> float:
        total = 0.0
        for i in range(b):
            for j in range(b):
                target = t[j][i] if transposed else t[i][j]
                total += ((cos(q[i], k[j]) - target) / tau) ** 2
        return total / (b * b)

    def space(q, k) -> list[float]:
        return [mse(q, k, False), mse(k, q, True)] if symmetric else [mse(q, k, False)]

    mono = [space(x, x), space(y, y)] if tcm else []
    return ref_combine(space(x, y), mono, combine, lam)


# ---------------------------------------------------------------------------------------------
# IMASCL's own code path, re-enacted from modules/AMETrainer.py at c687c60 (not copied; same steps):
#   _encode (lines 179-186): mean pooling then F.normalize(p=2) — both models' embeddings unit-norm.
#   compute_loss (127-169): teacher pseudo-labels P = E_t E_tᵀ of batch_1 (the priority side,
#     embed_direction "input", train.py:364-387), or (P_1 + P_2)/2 when both sides are embedded
#     ("both"), or the identity without a teacher (get_pseudo_mask_eye, 120-125); student
#     sim = E_1 E_2ᵀ; loss = L(sim, P) + L(simᵀ, Pᵀ); with train_mono_space, + L(sim_11, P) +
#     L(sim_11ᵀ, Pᵀ) + L(sim_22, P) + L(sim_22ᵀ, Pᵀ) — every term summed, no weight.
#   _compute_loss_from_type (227-239): mask = P > positive_threshold; w = _w_func(P, mask);
#     CS: -Σ w·log(_w_softmax(sim, mask, tau, margin)) / rows; MMSE: mean(((sim - w)/tau)²).
#   _w_func (241-247): Softmax -> _w_softmax(P, mask, tau, 0); raw -> P itself.
#   _w_softmax (249-260, small_batch_size None): exp((S - mask·margin)/tau), divided by its row sum.
# ---------------------------------------------------------------------------------------------


def imascl_loss(e1, e2, t1, t2, *, loss_type, w_func, tau, margin, threshold, mono) -> torch.Tensor:
    e1, e2 = F.normalize(e1, p=2, dim=1), F.normalize(e2, p=2, dim=1)
    if t1 is None and t2 is None:
        labels = torch.eye(e1.shape[0], dtype=e1.dtype)
    else:
        sims = [
            F.normalize(t, p=2, dim=1) @ F.normalize(t, p=2, dim=1).t() for t in (t1, t2) if t is not None
        ]
        labels = sum(sims) / len(sims)

    def row_softmax(s, mask, m):
        e = torch.exp((s - mask * m) / tau)
        return e / e.sum(dim=1, keepdim=True)

    def term(sim, pseudo):
        mask = pseudo > threshold
        w = row_softmax(pseudo, mask, 0) if w_func == "Softmax" else pseudo
        if loss_type == "CS":
            return -(w * torch.log(row_softmax(sim, mask, margin))).sum() / sim.shape[0]
        return (((sim - w) / tau) ** 2).mean()

    sim = e1 @ e2.t()
    loss = term(sim, labels) + term(sim.t(), labels.t())
    if mono:
        s11, s22 = e1 @ e1.t(), e2 @ e2.t()
        loss = loss + term(s11, labels) + term(s11.t(), labels.t())
        loss = loss + term(s22, labels) + term(s22.t(), labels.t())
    return loss


@pytest.mark.parametrize("strategy", ["priority", "average"])
@pytest.mark.parametrize("mono", [False, True])
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_soft_label_reproduces_imascl_cs_softmax(strategy, mono, margin):
    x, y = rand(6, 5, seed=1), rand(6, 5, seed=2)
    tx, ty = teacher_with_near_duplicates(seed=3), teacher_with_near_duplicates(seed=4)
    want = imascl_loss(
        x, y, tx, ty if strategy == "average" else None,
        loss_type="CS", w_func="Softmax", tau=TAU, margin=margin, threshold=0.95, mono=mono,
    )  # fmt: skip
    sims = teacher_similarity(tx, ty, strategy)
    mask = positive_mask(sims, 0.95)
    assert int(mask.sum()) > 6, "the fixture must give off-diagonal positives"
    got = soft_label_loss(
        x,
        y,
        soft_targets(tx, ty, strategy, teacher_temperature=TAU),
        TAU,
        tcm=mono,
        margin=margin,
        positives=mask,
        combine="sum",
    )
    close(got, float(want))


def test_hard_soft_label_reproduces_imascl_without_teacher_raw_labels():
    # No teacher: IMASCL's labels are I; with --w_func raw the targets are I too (polyalign's
    # "hard"), and the margin lands on the diagonal only (additive-margin softmax).
    x, y = rand(5, 4, seed=5), rand(5, 4, seed=6)
    want = imascl_loss(
        x, y, None, None, loss_type="CS", w_func="raw", tau=TAU, margin=0.3, threshold=0.95, mono=True
    )
    w = soft_targets(x, strategy="hard")
    got = soft_label_loss(x, y, w, TAU, tcm=True, margin=0.3, positives=None)
    close(got, float(want))
    # With --w_func Softmax IMASCL softmaxes I as well: nearly, but not exactly, one-hot targets.
    soft_eye = imascl_loss(
        x, y, None, None, loss_type="CS", w_func="Softmax", tau=TAU, margin=0.3, threshold=0.95, mono=True
    )
    assert abs(float(soft_eye) - float(want)) > 1e-4


@pytest.mark.parametrize("strategy", ["priority", "average"])
@pytest.mark.parametrize("mono", [False, True])
def test_similarity_mse_reproduces_imascl_mmse(strategy, mono):
    x, y = rand(6, 5, seed=7), rand(6, 5, seed=8)
    tx, ty = rand(6, 9, seed=9), rand(6, 9, seed=10)  # the teacher's width need not match
    want = imascl_loss(
        x, y, tx, ty if strategy == "average" else None,
        loss_type="MMSE", w_func="raw", tau=TAU, margin=0.3, threshold=0.95, mono=mono,
    )  # fmt: skip
    got = similarity_mse(x, y, teacher_similarity(tx, ty, strategy), TAU, tcm=mono, combine="sum")
    close(got, float(want))


def test_mean_combination_gives_the_mono_term_half_imascls_relative_weight():
    # IMASCL (sum, λ = 1) = 4 · (mean with λ = 0.5): under "mean" with λ = 1 the mono spaces have
    # half the weight relative to the cross term that IMASCL gives them.
    x, y = rand(6, 5, seed=11), rand(6, 5, seed=12)
    w = soft_targets(rand(6, 7, seed=13), teacher_temperature=TAU)
    summed = soft_label_loss(x, y, w, TAU, tcm=True, combine="sum")
    torch.testing.assert_close(
        summed, 4 * soft_label_loss(x, y, w, TAU, tcm=True, tcm_lambda=0.5, combine="mean")
    )
    assert not torch.allclose(summed, 2 * soft_label_loss(x, y, w, TAU, tcm=True, combine="mean"))


# ---------------------------------------------------------------------------------------------
# Naive loops and gradcheck
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["priority", "average", "hard"])
def test_teacher_similarity_and_positive_mask_match_reference(strategy):
    tx, ty = teacher_with_near_duplicates(seed=14), teacher_with_near_duplicates(seed=15)
    t = teacher_similarity(tx, ty, strategy)
    torch.testing.assert_close(t, torch.tensor(ref_teacher_sims(tx, ty, strategy), dtype=F64))
    want = [[v > 0.95 for v in row] for row in ref_teacher_sims(tx, ty, strategy)]
    assert positive_mask(t, 0.95).tolist() == want
    # soft_targets is the row-softmax of the same matrix (hard: I).
    expected = torch.eye(6, dtype=F64) if strategy == "hard" else torch.softmax(t / 0.2, dim=1)
    torch.testing.assert_close(soft_targets(tx, ty, strategy, 0.2), expected)


@pytest.mark.parametrize("combine", ["sum", "mean"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("tcm", [False, True])
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_soft_label_with_margin_matches_naive_loop(combine, symmetric, tcm, margin):
    x, y = rand(6, 5, seed=16), rand(6, 5, seed=17)
    tx = teacher_with_near_duplicates(seed=18)
    w = soft_targets(tx, teacher_temperature=0.2)
    # An asymmetric mask checks that the transposed direction reads Mᵀ.
    mask = positive_mask(teacher_similarity(tx), 0.95)
    mask[0, 5] = True
    got = soft_label_loss(
        x,
        y,
        w,
        TAU,
        symmetric=symmetric,
        tcm=tcm,
        tcm_lambda=0.7,
        margin=margin,
        positives=mask,
        combine=combine,
    )
    close(got, ref_soft(x, y, w, TAU, margin, mask.tolist(), symmetric, tcm, 0.7, combine))


def test_margin_without_mask_is_on_the_diagonal():
    x, y = rand(5, 4, seed=19), rand(5, 4, seed=20)
    w = soft_targets(rand(5, 3, seed=21))
    eye = torch.eye(5, dtype=torch.bool)
    torch.testing.assert_close(
        soft_label_loss(x, y, w, margin=0.2), soft_label_loss(x, y, w, margin=0.2, positives=eye)
    )
    assert float(soft_label_loss(x, y, w, margin=0.2)) > float(soft_label_loss(x, y, w))


@pytest.mark.parametrize("combine", ["sum", "mean"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("tcm", [False, True])
def test_similarity_mse_matches_naive_loop(combine, symmetric, tcm):
    x, y = rand(5, 4, seed=22), rand(5, 4, seed=23)
    t = teacher_similarity(rand(5, 6, seed=24), rand(5, 6, seed=25), "average")
    t[0, 2] += 0.1  # asymmetric: the transposed direction must read Tᵀ
    got = similarity_mse(x, y, t, TAU, symmetric=symmetric, tcm=tcm, tcm_lambda=0.7, combine=combine)
    close(got, ref_sim_mse(x, y, t.tolist(), TAU, symmetric, tcm, 0.7, combine))


def test_gradcheck_soft_label_margin_tcm():
    x = rand(5, 3, seed=26).requires_grad_()
    y = rand(5, 3, seed=27).requires_grad_()
    tx = teacher_with_near_duplicates(5, 3, seed=28)
    w = soft_targets(tx, teacher_temperature=0.5)
    mask = positive_mask(teacher_similarity(tx), 0.9)
    assert torch.autograd.gradcheck(
        lambda a, b: soft_label_loss(a, b, w, 0.5, tcm=True, margin=0.3, positives=mask), (x, y)
    )


def test_gradcheck_similarity_mse():
    x = rand(4, 3, seed=29).requires_grad_()
    y = rand(4, 3, seed=30).requires_grad_()
    t = teacher_similarity(rand(4, 5, seed=31))
    assert torch.autograd.gradcheck(lambda a, b: similarity_mse(a, b, t, 0.5, tcm=True), (x, y))


def test_similarity_mse_is_zero_when_the_student_copies_the_teacher():
    e = rand(5, 4, seed=32)
    t = teacher_similarity(e)
    close(similarity_mse(e, e.clone(), t, tcm=True), 0.0, 1e-12)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: soft_label_loss(rand(3, 2), rand(3, 2), torch.eye(3, dtype=F64), margin=-0.1), "margin"),
        (lambda: soft_label_loss(rand(3, 2), rand(3, 2), torch.eye(3, dtype=F64), combine="avg"), "combine"),
        (
            lambda: soft_label_loss(
                rand(3, 2), rand(3, 2), torch.eye(3, dtype=F64), margin=0.1, positives=torch.eye(3)
            ),
            "positives",
        ),
        (
            lambda: soft_label_loss(
                rand(3, 2), rand(3, 2), torch.eye(3, dtype=F64), margin=0.1, positives=torch.eye(2) > 0
            ),
            "positives",
        ),
        (lambda: similarity_mse(rand(3, 2), rand(3, 2), torch.eye(2, dtype=F64)), "teacher_sims"),
        (
            lambda: similarity_mse(rand(3, 2), rand(3, 2), torch.eye(3, dtype=F64), tcm_lambda=-1),
            "tcm_lambda",
        ),
        (lambda: positive_mask(torch.ones(2, 3, dtype=F64)), "teacher_sims"),
        (lambda: positive_mask(torch.eye(3, dtype=F64), float("nan")), "threshold"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, name):
    with pytest.raises(LossInputError, match=name):
        call()


# ---------------------------------------------------------------------------------------------
# Training config and objective wiring
# ---------------------------------------------------------------------------------------------


def _objective_value(cfg: TrainConfig, x, y, teacher) -> torch.Tensor:
    b = x.shape[0]
    batch = StepBatch("pairs", list(range(2 * b)), ["en"] * b + ["de"] * b, torch.arange(2 * b) // 2)
    return make_objective(cfg, cfg.loss, batch, teacher)(torch.cat([x, y]))


def test_objective_passes_margin_threshold_and_combination_to_the_losses():
    x, y = rand(6, 5, seed=33), rand(6, 5, seed=34)
    tx, ty = teacher_with_near_duplicates(seed=35), teacher_with_near_duplicates(seed=36)
    teacher = torch.cat([tx, ty])
    cfg = TrainConfig(
        data="d", loss="soft-average", teacher="self", temperature=TAU, teacher_temperature=TAU,
        tcm=True, margin=0.3, positive_threshold=0.95,
    )  # fmt: skip
    want = imascl_loss(
        x, y, tx, ty, loss_type="CS", w_func="Softmax", tau=TAU, margin=0.3, threshold=0.95, mono=True
    )
    close(_objective_value(cfg, x, y, teacher), float(want))
    mse_cfg = TrainConfig(data="d", loss="sim-mse-priority", teacher="self", temperature=TAU, tcm=True)
    want = imascl_loss(
        x, y, tx, None, loss_type="MMSE", w_func="raw", tau=TAU, margin=0.0, threshold=0.95, mono=True
    )
    close(_objective_value(mse_cfg, x, y, teacher), float(want))
    mean_cfg = TrainConfig(data="d", loss="soft-hard", temperature=TAU, soft_combine="mean", margin=0.3)
    w = torch.eye(6, dtype=F64)
    close(
        _objective_value(mean_cfg, x, y, None),
        float(soft_label_loss(x, y, w, TAU, margin=0.3, combine="mean")),
    )


def _parse(argv: list[str]) -> TrainConfig:
    from polyalign.config import add_config_arguments

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, TrainConfig)
    return config_from_args(TrainConfig, parser.parse_args(argv), None)


def test_cli_flags_for_the_imascl_options():
    cfg = _parse(
        ["--data", "d", "--loss", "sim-mse-average", "--teacher", "self", "--tcm", "--soft-combine", "mean"]
    )
    assert (cfg.loss, cfg.tcm, cfg.soft_combine, cfg.view) == ("sim-mse-average", True, "mean", "en_x")
    cfg = _parse(["--data", "d", "--loss", "soft-priority", "--teacher", "self", "--margin", "0.3",
                  "--positive-threshold", "0.9"])  # fmt: skip
    assert (cfg.margin, cfg.positive_threshold, cfg.soft_combine) == (0.3, 0.9, "sum")


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"loss": "single", "margin": 0.3}, "margin"),
        ({"loss": "sim-mse-priority", "teacher": "self", "margin": 0.3}, "margin"),
        ({"loss": "soft-priority", "teacher": "self", "margin": -0.1}, "margin"),
        ({"loss": "soft-priority", "teacher": "self", "soft_combine": "avg"}, "soft_combine"),
        ({"loss": "soft-priority", "teacher": "self", "positive_threshold": float("nan")}, "threshold"),
        ({"loss": "multi", "tcm": True}, "tcm"),
        ({"loss": "sim-mse-priority"}, "teacher"),
        ({"loss": "sim-mse-average", "teacher": "self", "data_view": "groups"}, "pairs"),
    ],
)
def test_config_rejects_misused_imascl_options(fields, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(data="d", **fields).validate()
