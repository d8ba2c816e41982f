"""monolingual_structure_loss against a naive per-language loop, gradcheck and its invariances."""

from __future__ import annotations

import math

import pytest
import torch

from polyalign.losses import LossInputError, monolingual_structure_loss

F64 = torch.float64
# 11 rows over 4 languages: language 5 has a single sentence (no pair), language 2 only two
# (one pair: not enough to correlate) — both must be skipped.
LANGS = [7, 7, 7, 7, 3, 3, 3, 5, 2, 2, 7]


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def cos(u, v) -> float:
    return float(u @ v) / (float(u.norm()) * float(v.norm()))


def pearson(a: list[float], b: list[float]) -> float:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den


def ref_structure(s, r, langs) -> float:
    """Straight from the docstring: per language, every unordered pair once, Python floats."""
    terms = []
    for lang in sorted(set(langs)):
        rows = [i for i, x in enumerate(langs) if x == lang]
        if len(rows) < 3:
            continue
        pairs = [(i, j) for a, i in enumerate(rows) for j in rows[a + 1 :]]
        terms.append(1 - pearson([cos(s[i], s[j]) for i, j in pairs], [cos(r[i], r[j]) for i, j in pairs]))
    return sum(terms) / len(terms)


def test_matches_naive_reference():
    s, r = rand(len(LANGS), 6, seed=1), rand(len(LANGS), 9, seed=2)  # reference width may differ
    got = monolingual_structure_loss(s, r, torch.tensor(LANGS))
    assert float(got) == pytest.approx(ref_structure(s, r, LANGS), rel=1e-10)


def test_gradcheck():
    s = rand(len(LANGS), 5, seed=3).requires_grad_()
    r = rand(len(LANGS), 5, seed=4)
    ids = torch.tensor(LANGS)
    assert torch.autograd.gradcheck(lambda x: monolingual_structure_loss(x, r, ids), (s,))


def test_zero_for_the_reference_itself_rotations_and_scaling():
    r = rand(len(LANGS), 6, seed=5)
    ids = torch.tensor(LANGS)
    assert float(monolingual_structure_loss(r, r, ids)) == pytest.approx(0, abs=1e-12)
    # Each language rotated by its own orthogonal matrix and rows rescaled: the same cosines.
    s = r.clone()
    for k, lang in enumerate(set(LANGS)):
        q, _ = torch.linalg.qr(rand(6, 6, seed=10 + k))
        rows = [i for i, x in enumerate(LANGS) if x == lang]
        s[rows] = (r[rows] @ q) * (1 + torch.arange(len(rows), dtype=F64))[:, None]
    assert float(monolingual_structure_loss(s, r, ids)) == pytest.approx(0, abs=1e-10)


def test_cross_language_pairs_are_free():
    """Moving one language's sentences far from another's changes nothing; reordering within one
    language does."""
    r = rand(8, 6, seed=6)
    ids = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    s = r.clone()
    s[4:] = -r[4:]  # language 1 flipped: every cross-language cosine negated, within-language kept
    assert float(monolingual_structure_loss(s, r, ids)) == pytest.approx(0, abs=1e-12)
    s[1] = r[2]  # two sentences of language 0 now coincide: its ordering changed
    assert float(monolingual_structure_loss(s, r, ids)) > 0.01


def test_anticorrelated_is_two_and_no_qualifying_language_is_zero_with_gradient():
    # Three sentences in a plane: reference cosines (a, b, c), student's reversed in order.
    r = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=F64)
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=F64)
    value = float(monolingual_structure_loss(s, r, torch.tensor([0, 0, 0])))
    assert 1.0 < value <= 2.0
    x = rand(3, 4).requires_grad_()
    loss = monolingual_structure_loss(x, rand(3, 4, seed=1), torch.tensor([0, 1, 1]))
    loss.backward()
    assert float(loss.detach()) == 0 and x.grad is not None


@pytest.mark.parametrize(
    "student, reference, ids, match",
    [
        (torch.zeros(3, 4), torch.zeros(2, 4), [0, 0, 0], "one row per student row"),
        (torch.zeros(3, 4), torch.zeros(3, 4), [0, 0], "length 3"),
        (torch.zeros(3, 4), torch.zeros(3, 4), [0.0, 0.0, 0.0], "integer dtype"),
        (torch.zeros(3), torch.zeros(3, 4), [0, 0, 0], "2-D"),
    ],
)
def test_bad_input_is_a_clear_error(student, reference, ids, match):
    with pytest.raises(LossInputError, match=match):
        monolingual_structure_loss(student, reference, torch.tensor(ids))
