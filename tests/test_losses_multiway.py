"""multiway_pair_loss against a naive per-anchor loop, gradcheck, invariances and its relation to
the other losses (symmetric InfoNCE with two languages; SupCon L_out differs)."""

from __future__ import annotations

import math

import pytest
import torch

from polyalign.losses import (
    MINMAX_EPS,
    LossInputError,
    info_nce,
    multi_positive_loss,
    multiway_pair_loss,
)

TAU = 0.05
F64 = torch.float64

# A ragged batch: 5 groups over 4 languages (arbitrary integer ids), groups missing languages, one
# singleton (group 8), and the pair (11, 3) present in a single group only.
GROUPS = [4, 4, 4, 4, 6, 6, 6, 1, 1, 9, 9, 9, 8]
LANGS = [7, 3, 11, 2, 7, 3, 2, 7, 2, 7, 3, 2, 3]


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def cos(u: torch.Tensor, v: torch.Tensor) -> float:
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def ref_multiway(e, groups, langs, tau, minmax=False) -> float:
    """Straight from the docstring: one (anchor, target language) at a time, Python floats."""
    n = len(groups)
    by_pair: dict[tuple[int, int], list[float]] = {}
    for i in range(n):
        for p in range(n):
            if groups[p] != groups[i] or langs[p] == langs[i]:
                continue
            cands = [j for j in range(n) if langs[j] == langs[p]]  # positive + other groups' b sentences
            s = [cos(e[i], e[j]) for j in cands]
            if minmax:
                lo, hi = min(s), max(s)
                z = [(2 * (v - lo) / max(hi - lo, MINMAX_EPS) - 1) / tau for v in s]
            else:
                z = [v / tau for v in s]
            term = -math.log(math.exp(z[cands.index(p)]) / sum(math.exp(v) for v in z))
            by_pair.setdefault((langs[i], langs[p]), []).append(term)
    return sum(sum(v) / len(v) for v in by_pair.values()) / len(by_pair)


@pytest.mark.parametrize("minmax", [False, True])
def test_matches_naive_reference_on_a_ragged_batch(minmax):
    e = rand(len(GROUPS), 5)
    got = multiway_pair_loss(e, torch.tensor(GROUPS), torch.tensor(LANGS), TAU, minmax=minmax)
    expected = ref_multiway(e, GROUPS, LANGS, TAU, minmax)
    assert math.isclose(float(got), expected, rel_tol=1e-6, abs_tol=1e-6), (float(got), expected)


def test_pairs_weigh_equally_not_anchors():
    """The mean over ordered language pairs differs from the mean over all (anchor, positive) terms
    on a ragged batch: the rare pair (11, 3) counts as much as the frequent (7, 3)."""
    e = rand(len(GROUPS), 5, seed=3)
    got = float(multiway_pair_loss(e, torch.tensor(GROUPS), torch.tensor(LANGS), TAU))
    # The per-anchor mean, from the same reference loop without the pair grouping.
    terms = []
    n = len(GROUPS)
    for i in range(n):
        for p in range(n):
            if GROUPS[p] == GROUPS[i] and LANGS[p] != LANGS[i]:
                cands = [j for j in range(n) if LANGS[j] == LANGS[p]]
                z = [cos(e[i], e[j]) / TAU for j in cands]
                terms.append(-z[cands.index(p)] + math.log(sum(math.exp(v) for v in z)))
    assert abs(got - sum(terms) / len(terms)) > 1e-3


def test_complete_groups_pair_mean_equals_anchor_mean():
    groups = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    langs = [0, 1, 2] * 3
    e = rand(9, 4, seed=1)
    got = multiway_pair_loss(e, torch.tensor(groups), torch.tensor(langs), TAU)
    g = torch.tensor(groups)
    same = (g[:, None] == g[None, :]) & ~torch.eye(9, dtype=torch.bool)
    z = torch.nn.functional.normalize(e, dim=1) @ torch.nn.functional.normalize(e, dim=1).T / TAU
    lang = torch.tensor(langs)
    terms = [
        torch.logsumexp(z[i, lang == lang[p]], 0) - z[i, p]
        for i, p in zip(*torch.nonzero(same, as_tuple=True))
    ]
    torch.testing.assert_close(got, torch.stack(terms).mean(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("minmax", [False, True])
def test_gradcheck(minmax):
    e = rand(len(GROUPS), 4, seed=2).requires_grad_(True)
    g, lang = torch.tensor(GROUPS), torch.tensor(LANGS)
    assert torch.autograd.gradcheck(lambda x: multiway_pair_loss(x, g, lang, 0.5, minmax=minmax), (e,))


def test_invariant_to_row_order_and_id_relabelling():
    e = rand(len(GROUPS), 5, seed=4)
    g, lang = torch.tensor(GROUPS), torch.tensor(LANGS)
    base = multiway_pair_loss(e, g, lang, TAU)
    perm = torch.randperm(len(GROUPS), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        multiway_pair_loss(e[perm], g[perm], lang[perm], TAU), base, rtol=0, atol=1e-12
    )
    torch.testing.assert_close(multiway_pair_loss(e, g * 10 - 3, lang + 100, TAU), base, rtol=0, atol=1e-12)


def test_two_languages_equal_symmetric_info_nce():
    """With two languages and complete groups, (a, b) and (b, a) are the two InfoNCE directions."""
    x, y = rand(6, 5, seed=5), rand(6, 5, seed=6)
    ids = torch.arange(6)
    for minmax in (False, True):
        got = multiway_pair_loss(
            torch.cat([x, y]), torch.cat([ids, ids]), torch.tensor([0] * 6 + [1] * 6), TAU, minmax=minmax
        )
        torch.testing.assert_close(
            got, info_nce(x, y, TAU, symmetric=True, minmax=minmax), rtol=0, atol=1e-10
        )


def test_other_languages_and_singletons_are_not_candidates():
    """Moving sentences of a third language or adding a lone sentence in a language nobody's group
    has leaves the (a, b) terms alone; a lone sentence in b is a new negative for pair (a, b)."""
    x, y = rand(4, 5, seed=7), rand(4, 5, seed=8)
    ids, two = torch.arange(4), torch.tensor([0] * 4 + [1] * 4)
    base = multiway_pair_loss(torch.cat([x, y]), torch.cat([ids, ids]), two, TAU)
    lone = rand(1, 5, seed=9)
    same = multiway_pair_loss(
        torch.cat([x, y, lone]),
        torch.cat([ids, ids, torch.tensor([99])]),
        torch.cat([two, torch.tensor([2])]),
        TAU,
    )
    torch.testing.assert_close(same, base, rtol=0, atol=1e-12)
    more = multiway_pair_loss(
        torch.cat([x, y, lone]),
        torch.cat([ids, ids, torch.tensor([99])]),
        torch.cat([two, torch.tensor([1])]),
        TAU,
    )
    assert float(more) > float(base)


def test_single_sentence_in_the_target_language_contributes_zero():
    e = rand(2, 3)
    got = multiway_pair_loss(e, torch.tensor([0, 0]), torch.tensor([0, 1]), TAU)
    assert float(got) == pytest.approx(0.0, abs=1e-12)


def test_differs_from_supcon_l_out():
    """Perfect alignment (each group's translations identical, groups orthogonal): the multi-way loss
    goes to ~0, while L_out keeps an anchor's K-1 translations tied in its denominator: ≥ log(K-1)."""
    k, n_groups = 4, 3
    e = torch.eye(n_groups, dtype=F64).repeat_interleave(k, dim=0)
    groups = torch.arange(n_groups).repeat_interleave(k)
    langs = torch.arange(k).repeat(n_groups)
    mw = float(multiway_pair_loss(e, groups, langs, TAU))
    out = float(multi_positive_loss(e, groups, TAU, form="out"))
    expected_mw = -math.log(math.exp(1 / TAU) / (math.exp(1 / TAU) + (n_groups - 1)))
    assert mw == pytest.approx(expected_mw, rel=1e-9) and mw < 1e-7
    assert out >= math.log(k - 1) - 1e-9
    # And on random embeddings they are different functions.
    r = rand(len(GROUPS), 5, seed=10)
    g, lang = torch.tensor(GROUPS), torch.tensor(LANGS)
    assert (
        abs(float(multiway_pair_loss(r, g, lang, TAU)) - float(multi_positive_loss(r, g, TAU, form="out")))
        > 1e-2
    )


@pytest.mark.parametrize(
    "groups,langs,match",
    [
        ([0, 0, 1], [0, 0, 1], "two sentences in one language"),
        ([0, 1, 2], [0, 1, 0], "no group has sentences in two languages"),
        ([0, 0, 1], [0, 1], "lang_ids must have length 3"),
        ([0, 0, 1], [0.0, 1.0, 0.0], "lang_ids must have an integer dtype"),
    ],
)
def test_bad_ids_raise(groups, langs, match):
    with pytest.raises(LossInputError, match=match):
        multiway_pair_loss(rand(3, 4), torch.tensor(groups), torch.tensor(langs))


def test_bad_temperature_raises():
    with pytest.raises(LossInputError, match="temperature"):
        multiway_pair_loss(rand(2, 4), torch.tensor([0, 0]), torch.tensor([0, 1]), temperature=0.0)
