"""polyalign.losses against naive per-anchor loops, gradcheck, invariances and argument checks."""

from __future__ import annotations

import math

import pytest
import torch

from polyalign.losses import (
    MINMAX_EPS,
    LossInputError,
    info_nce,
    mse_distillation,
    multi_positive_loss,
    priority_side,
    soft_label_loss,
    soft_targets,
    teacher_positive_weights,
)

TAU = 0.05
F64 = torch.float64


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def close(actual: torch.Tensor, expected: float, tol: float = 1e-6) -> None:
    assert math.isclose(float(actual), expected, rel_tol=tol, abs_tol=tol), (float(actual), expected)


# ---------------------------------------------------------------------------------------------
# Naive references: one anchor at a time, Python floats, straight from the docstring equations.
# ---------------------------------------------------------------------------------------------


def cos(u: torch.Tensor, v: torch.Tensor) -> float:
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def ref_info_nce(a, p, tau, symmetric=False, hard=None, minmax=False) -> float:
    b = len(a)
    hard = [] if hard is None else list(hard)

    def direction(q, k, extra) -> float:
        total = 0.0
        for i in range(b):
            s = [cos(q[i], k[j]) for j in range(b)] + [cos(q[i], h) for h in extra]
            if minmax:
                lo, hi = min(s), max(s)
                z = [(2 * (v - lo) / max(hi - lo, MINMAX_EPS) - 1) / tau for v in s]
            else:
                z = [v / tau for v in s]
            total += -math.log(math.exp(z[i]) / sum(math.exp(v) for v in z))
        return total / b

    forward = direction(a, p, hard)
    return 0.5 * (forward + direction(p, a, [])) if symmetric else forward


def ref_multi_positive(
    e, g, tau, minmax=False, form="in", hard=None, hard_g=None, weights=None, scope="all"
) -> float:
    n = len(e)
    g = [int(x) for x in g]
    hard = [] if hard is None else list(hard)
    losses = []
    for i in range(n):
        pos = [k for k in range(n) if k != i and g[k] == g[i]]
        if not pos:
            continue
        # Candidate vectors keyed by ("b", j) for batch sentences and ("h", m) for hard negatives.
        cands = {("b", j): e[j] for j in range(n) if j != i}
        for m, h in enumerate(hard):
            if scope == "all" or int(hard_g[m]) == g[i]:
                cands[("h", m)] = h
        s = {key: cos(e[i], v) for key, v in cands.items()}
        if minmax:
            lo, hi = min(s.values()), max(s.values())
            z = {key: (2 * (v - lo) / max(hi - lo, MINMAX_EPS) - 1) / tau for key, v in s.items()}
        else:
            z = {key: v / tau for key, v in s.items()}
        den = sum(math.exp(v) for v in z.values())
        if weights is None:
            wt = {k: 1.0 for k in pos}
        else:
            wsum = sum(float(weights[i, k]) for k in pos)
            wt = {k: float(weights[i, k]) * len(pos) / wsum for k in pos}
        if form == "in":
            num = sum(wt[k] * math.exp(z[("b", k)]) for k in pos)
            losses.append(-math.log(num / den))
        else:
            losses.append(-sum(wt[k] * math.log(math.exp(z[("b", k)]) / den) for k in pos) / len(pos))
    return sum(losses) / len(losses)


def ref_teacher_weights(t, g, tau) -> list[list[float]]:
    n = len(t)
    out = [[0.0] * n for _ in range(n)]
    for i in range(n):
        pos = [k for k in range(n) if k != i and int(g[k]) == int(g[i])]
        den = sum(math.exp(cos(t[i], t[k]) / tau) for k in pos)
        for k in pos:
            out[i][k] = len(pos) * math.exp(cos(t[i], t[k]) / tau) / den
    return out


def ref_soft_targets(tx, ty, strategy, tau) -> list[list[float]]:
    b = len(tx)
    if strategy == "hard":
        return [[float(i == j) for j in range(b)] for i in range(b)]
    rows = []
    for i in range(b):
        t = [
            cos(tx[i], tx[j]) if strategy == "priority" else 0.5 * (cos(tx[i], tx[j]) + cos(ty[i], ty[j]))
            for j in range(b)
        ]
        den = sum(math.exp(v / tau) for v in t)
        rows.append([math.exp(v / tau) / den for v in t])
    return rows


def ref_soft_label(x, y, w, tau, symmetric=True, tcm=False, lam=1.0) -> float:
    b = len(x)

    def ce(q, k) -> float:
        total = 0.0
        for i in range(b):
            den = sum(math.exp(cos(q[i], k[j]) / tau) for j in range(b))
            total += -sum(float(w[i][j]) * math.log(math.exp(cos(q[i], k[j]) / tau) / den) for j in range(b))
        return total / b

    cross = ce(x, y)
    if symmetric:
        cross = 0.5 * (cross + ce(y, x))
    return lam * cross + 0.5 * (ce(x, x) + ce(y, y)) if tcm else cross


def ref_mse(sx, sy, tx) -> float:
    n = sx.numel()
    return (
        sum((float(a) - float(t)) ** 2 for a, t in zip(sx.flatten(), tx.flatten())) / n
        + sum((float(a) - float(t)) ** 2 for a, t in zip(sy.flatten(), tx.flatten())) / n
    )


# Ragged groups with arbitrary (negative, large) ids, one singleton (id 5) that is never an anchor.
GROUPS = torch.tensor([7, -3, 7, 100, -3, -3, 7, 5, 100, 42, 42, 42, 42])
HARD_GROUPS = torch.tensor([7, -3, 100, 42, 7])


# ---------------------------------------------------------------------------------------------
# Reference agreement
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("with_hard", [False, True])
@pytest.mark.parametrize("minmax", [False, True])
def test_info_nce_matches_reference(symmetric, with_hard, minmax):
    a, p, h = rand(6, 5, seed=1), rand(6, 5, seed=2), rand(4, 5, seed=3)
    hard = h if with_hard else None
    got = info_nce(a, p, TAU, symmetric=symmetric, hard_negatives=hard, minmax=minmax)
    close(got, ref_info_nce(a, p, TAU, symmetric, hard, minmax))


@pytest.mark.parametrize("form", ["in", "out"])
@pytest.mark.parametrize("minmax", [False, True])
@pytest.mark.parametrize("hard_scope", [None, "all", "group"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multi_positive_matches_reference(form, minmax, hard_scope, weighted):
    e = rand(len(GROUPS), 6, seed=4)
    hard = rand(len(HARD_GROUPS), 6, seed=5) if hard_scope else None
    weights = rand(len(GROUPS), len(GROUPS), seed=6).abs() if weighted else None
    kwargs = {}
    if hard_scope:
        kwargs = {
            "hard_negatives": hard,
            "hard_negative_group_ids": HARD_GROUPS,
            "hard_negative_scope": hard_scope,
        }
    got = multi_positive_loss(e, GROUPS, TAU, minmax=minmax, form=form, weights=weights, **kwargs)
    want = ref_multi_positive(
        e, GROUPS, TAU, minmax, form, hard, HARD_GROUPS if hard_scope else None, weights, hard_scope or "all"
    )
    close(got, want)


def test_teacher_positive_weights_matches_reference():
    t = rand(len(GROUPS), 7, seed=7)
    got = teacher_positive_weights(t, GROUPS, temperature=0.1)
    torch.testing.assert_close(
        got, torch.tensor(ref_teacher_weights(t, GROUPS, 0.1), dtype=F64), rtol=0, atol=1e-9
    )
    # Each anchor's weights sum to its number of positives: the normalisation the loss applies.
    pos_counts = torch.tensor([(GROUPS == gi).sum().item() - 1 for gi in GROUPS], dtype=F64)
    torch.testing.assert_close(got.sum(dim=1), pos_counts)
    assert not got.requires_grad


@pytest.mark.parametrize("strategy", ["priority", "average", "hard"])
def test_soft_targets_match_reference(strategy):
    tx, ty = rand(5, 4, seed=8), rand(5, 4, seed=9)
    got = soft_targets(tx, ty, strategy=strategy, teacher_temperature=0.1)
    want = torch.tensor(ref_soft_targets(tx, ty, strategy, 0.1), dtype=F64)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-9)
    torch.testing.assert_close(got.sum(dim=1), torch.ones(5, dtype=F64))


@pytest.mark.parametrize("strategy", ["priority", "average"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("tcm", [False, True])
def test_soft_label_loss_matches_reference(strategy, symmetric, tcm):
    x, y = rand(6, 5, seed=10), rand(6, 5, seed=11)
    w = soft_targets(rand(6, 8, seed=12), rand(6, 8, seed=13), strategy=strategy, teacher_temperature=0.2)
    # combine="mean": the averaged form (the IMASCL "sum" form: tests/test_losses_imascl.py).
    got = soft_label_loss(x, y, w, TAU, symmetric=symmetric, tcm=tcm, tcm_lambda=0.7, combine="mean")
    close(got, ref_soft_label(x, y, w, TAU, symmetric, tcm, 0.7))


def test_mse_distillation_matches_reference():
    sx, sy, tx = rand(4, 5, seed=14), rand(4, 5, seed=15), rand(4, 5, seed=16)
    close(mse_distillation(sx, sy, tx), ref_mse(sx, sy, tx))
    n = torch.nn.functional.normalize
    close(mse_distillation(sx, sy, tx, normalize=True), ref_mse(n(sx, dim=1), n(sy, dim=1), n(tx, dim=1)))


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minmax", [False, True])
def test_gradcheck_info_nce(minmax):
    a, p, h = (rand(4, 3, seed=s).requires_grad_(True) for s in (20, 21, 22))
    assert torch.autograd.gradcheck(
        lambda a, p, h: info_nce(a, p, 0.5, symmetric=True, hard_negatives=h, minmax=minmax), (a, p, h)
    )


@pytest.mark.parametrize("form", ["in", "out"])
@pytest.mark.parametrize("minmax", [False, True])
def test_gradcheck_multi_positive(form, minmax):
    g = torch.tensor([0, 0, 1, 1, 1, 2])
    e, h = rand(6, 3, seed=23).requires_grad_(True), rand(2, 3, seed=24).requires_grad_(True)
    w = rand(6, 6, seed=25).abs()

    def fn(e, h):
        return multi_positive_loss(e, g, 0.5, minmax=minmax, form=form, hard_negatives=h, weights=w)

    assert torch.autograd.gradcheck(fn, (e, h))


def test_gradcheck_soft_label_tcm():
    x, y = rand(4, 3, seed=26).requires_grad_(True), rand(4, 3, seed=27).requires_grad_(True)
    w = soft_targets(rand(4, 3, seed=28), strategy="priority", teacher_temperature=0.5)
    assert torch.autograd.gradcheck(
        lambda x, y: soft_label_loss(x, y, w, 0.5, tcm=True, tcm_lambda=0.3), (x, y)
    )


def test_gradcheck_mse_distillation():
    sx, sy = rand(3, 4, seed=29).requires_grad_(True), rand(3, 4, seed=30).requires_grad_(True)
    tx = rand(3, 4, seed=31)
    assert torch.autograd.gradcheck(lambda a, b: mse_distillation(a, b, tx, normalize=True), (sx, sy))


# ---------------------------------------------------------------------------------------------
# Invariances and relations between the losses
# ---------------------------------------------------------------------------------------------


def test_batch_permutation_invariance():
    perm = torch.randperm(len(GROUPS), generator=torch.Generator().manual_seed(0))
    e, h = rand(len(GROUPS), 6, seed=32), rand(len(HARD_GROUPS), 6, seed=33)
    w = rand(len(GROUPS), len(GROUPS), seed=34).abs()
    kw = {"minmax": True, "form": "out", "hard_negatives": h, "hard_negative_group_ids": HARD_GROUPS}
    base = multi_positive_loss(e, GROUPS, weights=w, hard_negative_scope="group", **kw)
    permuted = multi_positive_loss(
        e[perm], GROUPS[perm], weights=w[perm][:, perm], hard_negative_scope="group", **kw
    )
    torch.testing.assert_close(permuted, base)
    # Relabelling the groups (a bijection on ids) changes nothing either.
    torch.testing.assert_close(
        multi_positive_loss(
            e,
            GROUPS * 3 + 11,
            weights=w,
            hard_negative_scope="group",
            **{**kw, "hard_negative_group_ids": HARD_GROUPS * 3 + 11},
        ),
        base,
    )

    a, p = rand(7, 5, seed=35), rand(7, 5, seed=36)
    pp = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    hn = rand(3, 5, seed=38)
    torch.testing.assert_close(
        info_nce(a[pp], p[pp], symmetric=True, hard_negatives=hn),
        info_nce(a, p, symmetric=True, hard_negatives=hn),
    )
    wt = soft_targets(rand(7, 4, seed=37))
    torch.testing.assert_close(
        soft_label_loss(a[pp], p[pp], wt[pp][:, pp], tcm=True), soft_label_loss(a, p, wt, tcm=True)
    )


def test_multi_positive_on_pairs_equals_info_nce_with_all_other_sentences_as_candidates():
    """B pairs (x_i, y_i) flattened to 2B sentences with group ids [0..B-1, 0..B-1].

    multi_positive_loss makes each of the 2B sentences an anchor whose only positive is its
    translation and whose denominator holds *all other 2B-1 sentences*. That is exactly info_nce
    for the single pair (x_i, y_i) with the other 2B-2 sentences ({y_j}_{j≠i} ∪ {x_j}_{j≠i}) passed
    as hard negatives (and the same with x and y swapped), averaged over the 2B anchors.
    """
    b = 5
    x, y = rand(b, 6, seed=38), rand(b, 6, seed=39)
    got = multi_positive_loss(torch.cat([x, y]), torch.arange(b).repeat(2))
    per_anchor = []
    for q, k in ((x, y), (y, x)):
        for i in range(b):
            others = torch.cat([k[torch.arange(b) != i], q[torch.arange(b) != i]])
            per_anchor.append(info_nce(q[i : i + 1], k[i : i + 1], hard_negatives=others))
    torch.testing.assert_close(got, torch.stack(per_anchor).mean())
    # With one positive per anchor L_in and L_out coincide.
    torch.testing.assert_close(
        got, multi_positive_loss(torch.cat([x, y]), torch.arange(b).repeat(2), form="out")
    )


def test_in_and_out_differ_with_several_positives():
    e = rand(len(GROUPS), 6, seed=40)
    assert (
        abs(float(multi_positive_loss(e, GROUPS)) - float(multi_positive_loss(e, GROUPS, form="out"))) > 1e-3
    )


def test_uniform_or_rescaled_weights_reproduce_unweighted_loss():
    e = rand(len(GROUPS), 6, seed=41)
    w = rand(len(GROUPS), len(GROUPS), seed=42).abs()
    for form in ("in", "out"):
        plain = multi_positive_loss(e, GROUPS, form=form)
        torch.testing.assert_close(
            multi_positive_loss(e, GROUPS, form=form, weights=torch.ones_like(w) * 3), plain
        )
        # Only the per-anchor ratios matter (mean-normalisation), and entries outside P(i) are ignored.
        scaled = w * rand(len(GROUPS), 1, seed=43).abs()
        outside = (GROUPS[:, None] != GROUPS[None, :]) | torch.eye(len(GROUPS), dtype=torch.bool)
        noisy = torch.where(outside, torch.full_like(w, 1e3), w)
        torch.testing.assert_close(
            multi_positive_loss(e, GROUPS, form=form, weights=scaled),
            multi_positive_loss(e, GROUPS, form=form, weights=w),
        )
        torch.testing.assert_close(
            multi_positive_loss(e, GROUPS, form=form, weights=noisy),
            multi_positive_loss(e, GROUPS, form=form, weights=w),
        )
        assert abs(float(multi_positive_loss(e, GROUPS, form=form, weights=w)) - float(plain)) > 1e-4


def test_loss_depends_on_similarities_only_through_s_over_tau():
    """Logits are s/τ: with normalize=False, scaling one side by c and τ by c leaves every loss unchanged."""
    a, p, h = rand(5, 4, seed=44), rand(5, 4, seed=45), rand(3, 4, seed=46)
    c = 3.7
    torch.testing.assert_close(
        info_nce(c * a, p, c * 0.1, symmetric=True, hard_negatives=h, normalize=False),
        info_nce(a, p, 0.1, symmetric=True, hard_negatives=h, normalize=False),
    )
    e = rand(len(GROUPS), 4, seed=47)
    # s_ij = e_i·e_j scales by c² when every sentence is scaled by c.
    torch.testing.assert_close(
        multi_positive_loss(c * e, GROUPS, c * c * 0.1, normalize=False),
        multi_positive_loss(e, GROUPS, 0.1, normalize=False),
    )
    w = soft_targets(rand(5, 4, seed=48))
    torch.testing.assert_close(
        soft_label_loss(c * a, c * p, w, c * c * 0.1, tcm=True, normalize=False),
        soft_label_loss(a, p, w, 0.1, tcm=True, normalize=False),
    )


def test_small_temperature_limit_is_hard_max_margin():
    """τ·l_i = τ·logsumexp_j((s_ij - s_ii)/τ) → max(0, max_{j≠i} s_ij - s_ii) as τ → 0 (error ≤ τ·log B)."""
    a, p = rand(6, 4, seed=49), rand(6, 4, seed=50)
    s = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(p, dim=1).T
    margin = (s - s.diag()[:, None]).clamp_min(0).amax(dim=1).mean()
    tau = 1e-4
    assert abs(float(tau * info_nce(a, p, tau)) - float(margin)) <= tau * math.log(6) + 1e-12
    assert float(margin) > 0.01  # the property is not trivially 0 = 0


def test_minmax_is_invariant_to_similarity_scale_and_spans_the_range():
    """Per-row min-max rescaling: scaling all dot products by c > 0 (normalize=False) changes nothing."""
    e, h = rand(len(GROUPS), 5, seed=51), rand(3, 5, seed=52)
    base = multi_positive_loss(e, GROUPS, minmax=True, hard_negatives=h, normalize=False)
    for c in (0.3, 4.0):
        torch.testing.assert_close(
            multi_positive_loss(c * e, GROUPS, minmax=True, hard_negatives=c * h, normalize=False), base
        )
    assert abs(float(base) - float(multi_positive_loss(e, GROUPS, hard_negatives=h, normalize=False))) > 1e-3
    # Two sentences, one group: the only candidate is the positive, so the loss is exactly 0.
    close(multi_positive_loss(rand(2, 5, seed=53), torch.tensor([1, 1]), minmax=True), 0.0, 1e-12)


@pytest.mark.parametrize("symmetric", [False, True])
def test_hard_soft_label_equals_info_nce(symmetric):
    x, y = rand(7, 5, seed=54), rand(7, 5, seed=55)
    w = soft_targets(rand(7, 3, seed=56), strategy="hard")
    torch.testing.assert_close(w, torch.eye(7, dtype=F64))
    nce = info_nce(x, y, TAU, symmetric=symmetric)
    torch.testing.assert_close(soft_label_loss(x, y, w, TAU, symmetric=symmetric, combine="mean"), nce)
    # IMASCL's "sum" adds the two directions that info_nce averages.
    torch.testing.assert_close(soft_label_loss(x, y, w, TAU, symmetric=symmetric), (1 + symmetric) * nce)


def test_average_strategy_with_identical_sides_equals_priority():
    t = rand(5, 4, seed=57)
    torch.testing.assert_close(soft_targets(t, t.clone(), "average"), soft_targets(t, strategy="priority"))


def test_normalize_flag_equals_prenormalised_inputs():
    n = torch.nn.functional.normalize
    a, p = rand(5, 4, seed=58) * 3, rand(5, 4, seed=59) * 0.2
    torch.testing.assert_close(info_nce(a, p), info_nce(n(a, dim=1), n(p, dim=1), normalize=False))
    e = rand(len(GROUPS), 4, seed=60) * 5
    torch.testing.assert_close(
        multi_positive_loss(e, GROUPS, minmax=True),
        multi_positive_loss(n(e, dim=1), GROUPS, minmax=True, normalize=False),
    )


def test_priority_side():
    assert priority_side("en", "de") == 0
    assert priority_side("de", "en") == 1
    assert priority_side("de", "fr", priority=["en", "fr"]) == 1
    assert priority_side("de", "sw") == 0  # neither listed: keep the given order
    assert priority_side("en", "en") == 0


# ---------------------------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------------------------

_E = rand(4, 3, seed=61)
_G = torch.tensor([0, 0, 1, 1])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: info_nce(_E, _E[:3]), "positives"),
        (lambda: info_nce(_E, _E, temperature=0), "temperature"),
        (lambda: info_nce(_E, _E, temperature=-1.0), "temperature"),
        (lambda: info_nce(_E, _E, temperature=float("nan")), "temperature"),
        (lambda: info_nce(_E.clone().index_fill_(0, torch.tensor([1]), float("nan")), _E), "anchors"),
        (lambda: info_nce(_E, _E.clone().index_fill_(0, torch.tensor([0]), float("inf"))), "positives"),
        (lambda: info_nce(_E, _E, hard_negatives=rand(2, 5)), "hard_negatives"),
        (lambda: info_nce(_E[0], _E[0]), "anchors"),
        (lambda: info_nce(_E.long(), _E.long()), "anchors"),
        (lambda: multi_positive_loss(_E, _G[:3]), "group_ids"),
        (lambda: multi_positive_loss(_E, _G[None]), "group_ids"),
        (lambda: multi_positive_loss(_E, _G.double()), "group_ids"),
        (lambda: multi_positive_loss(_E, _G, form="sideways"), "form"),
        (lambda: multi_positive_loss(_E, torch.arange(4)), "group_ids"),
        (lambda: multi_positive_loss(_E, _G, weights=torch.ones(4, 3, dtype=F64)), "weights"),
        (lambda: multi_positive_loss(_E, _G, weights=-torch.ones(4, 4, dtype=F64)), "weights"),
        (lambda: multi_positive_loss(_E, _G, weights=torch.zeros(4, 4, dtype=F64)), "weights"),
        (
            lambda: multi_positive_loss(_E, _G, hard_negatives=_E, hard_negative_group_ids=_G[:2]),
            "hard_negative_group_ids",
        ),
        (lambda: multi_positive_loss(_E, _G, hard_negative_group_ids=_G), "hard_negative_group_ids"),
        (
            lambda: multi_positive_loss(_E, _G, hard_negatives=_E, hard_negative_scope="group"),
            "hard_negative_group_ids",
        ),
        (
            lambda: multi_positive_loss(_E, _G, hard_negatives=_E, hard_negative_scope="some"),
            "hard_negative_scope",
        ),
        (lambda: teacher_positive_weights(_E, _G, temperature=0.0), "temperature"),
        (lambda: soft_targets(_E, strategy="median"), "strategy"),
        (lambda: soft_targets(_E, strategy="average"), "teacher_y"),
        (lambda: soft_targets(_E, _E[:2]), "teacher_y"),
        (lambda: soft_targets(_E, teacher_temperature=0), "teacher_temperature"),
        (lambda: soft_label_loss(_E, _E, torch.eye(3, dtype=F64)), "targets"),
        (lambda: soft_label_loss(_E, _E, 2 * torch.eye(4, dtype=F64)), "targets"),
        (lambda: soft_label_loss(_E, _E, torch.eye(4, dtype=F64), tcm=True, tcm_lambda=-1), "tcm_lambda"),
        (lambda: soft_label_loss(_E, _E[:, :2], torch.eye(4, dtype=F64)), "student_y"),
        (lambda: mse_distillation(_E, _E, rand(4, 5)), "teacher_x"),
        (lambda: mse_distillation(_E, _E[:2], _E), "student_y"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, name):
    with pytest.raises(LossInputError, match=name) as info:
        call()
    assert isinstance(info.value, ValueError)


def test_teacher_dimension_mismatch_message_names_dimension():
    with pytest.raises(ValueError, match="embedding dimension"):
        mse_distillation(_E, _E, rand(4, 8))
