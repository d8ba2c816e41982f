"""polyalign's BUCC F1 against figures computed by XTREME's and LASER's own BUCC code.

The fixture (``tests/fixtures/bucc_reference``: embeddings, the reference figures and candidates,
provenance, the script that made them) holds synthetic BUCC-like dev/test splits: topic clusters
of near-duplicate meanings, hard negatives, a minority of sources with a gold target, repeated
sentences (gold ones among them), a test split harder than its dev split, and a dev split whose
gold no miner finds. XTREME's ``mine_bitext`` mined them (ratio margin, k = 4, ``max``), its
``bucc_optimize`` chose the dev threshold, ``bucc_extract`` applied it to test; LASER's
``mine_bitexts.py`` + ``bucc.py`` gave the same figures.

Scores agree to float32 noise (polyalign's torch cosines vs faiss's, <= 5e-7 here); the fixture
records how far the nearest test score lies from the threshold, so that noise cannot move a pair
across it and the counts must be equal.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from polyalign.eval import bitext
from polyalign.mine import score

FIXTURE = Path(__file__).parent / "fixtures" / "bucc_reference"
REF = json.loads((FIXTURE / "bucc_reference.json").read_text())
SCORE_TOL = 1e-6  # |polyalign score - reference score|, float32 cosines from two libraries

_spec = importlib.util.spec_from_file_location("bucc_make_fixture", FIXTURE / "make_fixture.py")
_make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make)  # numpy only: split_rows gives the ids and sentences the reference saw
DATA = np.load(FIXTURE / "synthetic.npz")
CASES = sorted(REF["cases"])


class _LookupEncoder:
    """encode(texts) -> the fixture's vectors for these sentences."""

    def __init__(self, table):
        self.table = table

    def encode(self, texts, key=None):
        return np.stack([self.table[t] for t in texts])


def _splits(case: str) -> tuple[dict, _LookupEncoder]:
    splits, table = {}, {}
    for name in ("dev", "test"):
        rows = _make.split_rows(DATA, case, name)
        src, tgt = rows["src"], rows["tgt"]
        for side in (src, tgt):
            table.update(zip(side["texts"], side["emb"]))
        splits[name] = bitext.BuccSplit(
            src["ids"], src["texts"], tgt["ids"], tgt["texts"], set(rows["gold"]), name
        )
        splits[name + "_emb"] = (src["emb"], tgt["emb"])
    return splits, _LookupEncoder(table)


def _candidates(splits, name):
    return bitext.bucc_candidates(*splits[name + "_emb"], splits[name])


@pytest.mark.parametrize("case", CASES)
def test_bucc_evaluate_equals_reference(case):
    ref = REF["cases"][case]["test"]
    assert ref["closest_score_to_threshold"] > 100 * SCORE_TOL
    splits, enc = _splits(case)
    got = bitext.bucc_evaluate(enc, splits["dev"], splits["test"])
    assert got["n_predicted"] == ref["n_predicted"]
    for m in ("precision", "recall", "f1"):
        assert got[m] == pytest.approx(ref[m], abs=1e-9), m
    assert got["threshold"] == pytest.approx(ref["threshold"], abs=SCORE_TOL)
    # LASER's bucc.sh route (threshold printed with 6 decimals) gives the same test figures.
    assert REF["cases"][case]["laser"]["dev"]["threshold_printed"] == f"{ref['threshold']:f}"
    laser = REF["cases"][case]["laser"]["test"]
    if "error" in laser:  # bucc.py refuses --threshold 0
        assert ref["threshold"] == 0
    else:
        assert (laser["n_predicted"], laser["f1"]) == (ref["n_predicted"], pytest.approx(ref["f1"], abs=1e-9))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["dev", "test"])
def test_candidates_and_thresholds_equal_reference(case, name):
    """Same candidate pairs (after unifying and dropping repeated sentences), scores to float
    noise; best_threshold on each split equals bucc_optimize's, with the same F1 there."""
    ref = REF["cases"][case][name]
    splits, _ = _splits(case)
    got = _candidates(splits, name)
    assert len(got) == ref["n_candidates"] == len({(s, t) for s, t, _ in got})
    ref_score = {(s, t): v for s, t, v in ref["candidates"]}
    assert {(s, t) for s, t, _ in got} == set(ref_score)
    assert max(abs(v - ref_score[s, t]) for s, t, v in got) < SCORE_TOL
    own = ref["own_threshold"]
    th = score.best_threshold(got, splits[name].gold)
    assert th == pytest.approx(own["threshold"], abs=SCORE_TOL)
    res = score.f1_at_threshold(got, splits[name].gold, th)
    for m in ("precision", "recall", "f1"):
        assert res[m] == pytest.approx(own[m], abs=1e-9), m


def test_fixture_tells_the_reference_from_polyalign_before():
    """The fixture can fail what polyalign did before: a threshold at the last kept dev score
    (not the midpoint to the next), the top score when no dev gold pair is found (not 0), and
    mining every row (not unified sentences, repeated ones dropped)."""

    def old_threshold(pairs, gold):
        ranked = sorted(pairs, key=lambda p: -p[2])
        tp, best = 0, (-1.0, ranked[0][2])
        for n, (s, t, v) in enumerate(ranked, start=1):
            tp += (s, t) in gold
            best = max(best, (2 * tp / (n + len(gold)), v), key=lambda b: b[0])
        return best[1]

    differs = []
    for case in CASES:
        splits, _ = _splits(case)
        dev, test = _candidates(splits, "dev"), _candidates(splits, "test")
        res = score.f1_at_threshold(test, splits["test"].gold, old_threshold(dev, splits["dev"].gold))
        if res["f1"] != pytest.approx(REF["cases"][case]["test"]["f1"], abs=1e-9):
            differs.append(case)
    assert {"clusters", "no_dev_hit"} <= set(differs)
    splits, _ = _splits("duplicates")
    for name in ("dev", "test"):
        every_row = {(p.src, p.tgt) for p in score.mine(*splits[name + "_emb"])}
        assert len(every_row) != REF["cases"]["duplicates"][name]["n_candidates"]


def test_fixture_exercises_repeats_and_a_test_threshold_of_its_own():
    cases = REF["cases"]
    dup = cases["duplicates"]
    for name in ("dev", "test"):
        assert (
            dup[name]["n_unique_src"] < dup[name]["n_src"] and dup[name]["n_unique_tgt"] < dup[name]["n_tgt"]
        )
    # some gold pairs sit on a repeated sentence: no candidate can find them
    for name in ("dev", "test"):
        rows = _make.split_rows(DATA, "duplicates", name)
        repeated = {
            t for side in ("src", "tgt") for t in rows[side]["texts"] if rows[side]["texts"].count(t) > 1
        }
        texts = {i: t for side in ("src", "tgt") for i, t in zip(rows[side]["ids"], rows[side]["texts"])}
        assert sum(texts[s] in repeated or texts[t] in repeated for s, t in rows["gold"]) >= 5
    assert cases["shifted"]["test"]["own_threshold"]["threshold"] != pytest.approx(
        cases["shifted"]["dev"]["threshold"], abs=1e-3
    )
    assert cases["no_dev_hit"]["dev"]["threshold"] == 0 and cases["no_dev_hit"]["dev"]["f1"] == 0


def test_bucc_candidates_unify_and_drop_repeated_sentences():
    """A repeated sentence is one row for the k-NN (its copies do not crowd the neighbourhoods)
    and no pair on it is a candidate; a sentence repeated only up to whitespace is dropped too."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8)).astype(np.float32)
    y = x + 0.1 * rng.normal(size=x.shape).astype(np.float32)
    src_texts = ["a", "b", "c", "d", "e", "a"]
    x[5] = x[0]
    tgt_texts = ["A", "B", "C", "D", "E", "C "]
    split = bitext.BuccSplit(list("012345"), src_texts, list("uvwxyz"), tgt_texts, {("0", "u")})
    got = bitext.bucc_candidates(x, y, split)
    assert {(s, t) for s, t, _ in got} == {("1", "v"), ("3", "x"), ("4", "y")}
    # the unified scores are those of mining the unique sentences only (row 5 of x is row 0)
    ref = {(p.src, p.tgt): p.score for p in score.mine(x[:5], y)}
    assert all(v == pytest.approx(ref[int(s), "uvwxyz".index(t)]) for s, t, v in got)
