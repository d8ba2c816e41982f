"""polyalign's xsim against error counts computed by LASER's own ``source/xsim.py``.

The fixture (``tests/fixtures/laser_xsim``: embeddings, LASER's counts, provenance, the script that
made them) holds synthetic hard cases (topic clusters of near-duplicates, language shifts, duplicate
target sentences) and me5-small-q4 embeddings of FLORES-200 devtest lines (eng, khm, amh).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyalign.errors import ConfigError, DataError
from polyalign.eval import bitext
from polyalign.mine import score

FIXTURE = Path(__file__).parent / "fixtures" / "laser_xsim"
LASER = json.loads((FIXTURE / "laser_xsim.json").read_text())


def _load(name: str) -> tuple[dict, dict]:
    data = np.load(FIXTURE / f"{name}.npz")
    emb = {k[4:]: data[k].astype(np.float32) for k in data.files if k.startswith("emb_")}
    texts = {k[5:]: [f"text {t}" for t in data[k]] for k in data.files if k.startswith("text_")}
    return emb, texts


DATA = {name: _load(name) for name in LASER["cases"]}
CASES = [
    pytest.param(name, case, id=f"{name}-{case['src']}-{case['tgt']}-{case['margin']}")
    for name, cases in LASER["cases"].items()
    for case in cases
]


@pytest.mark.parametrize("name,case", CASES)
def test_xsim_errors_equal_laser(name, case):
    emb, texts = DATA[name]
    x, y = emb[case["src"]], emb[case["tgt"]]
    assert len(x) == case["nbex"]
    got = bitext.xsim_errors(x, y, k=case["k"], margin=case["margin"])
    assert got == case["err"]
    assert bitext.xsim_error_rate(x, y, k=case["k"], margin=case["margin"]) == pytest.approx(
        100 * case["err"] / case["nbex"]
    )
    if "err_text" in case:
        tgt_texts = texts[case["tgt"]]
        assert (
            bitext.xsim_errors(x, y, k=case["k"], margin=case["margin"], tgt_texts=tgt_texts)
            == case["err_text"]
        )


def test_fixture_tells_laser_from_the_all_candidates_variant():
    """The fixture can fail a wrong xsim: the margin's argmax over all targets (polyalign's old
    xsim) misses LASER's count in several ratio and distance cases, synthetic and FLORES alike."""
    for name, cases in LASER["cases"].items():
        emb, _ = DATA[name]
        wrong = [
            c
            for c in cases
            if c["margin"] != "absolute"
            and bitext.xsim_all_candidates_errors(emb[c["src"]], emb[c["tgt"]], k=c["k"], margin=c["margin"])
            != c["err"]
        ]
        assert len(wrong) >= 2, name


def test_fixture_exercises_text_based_errors():
    """Duplicate target sentences make LASER's text error lower than its index error."""
    cases = LASER["cases"]["synthetic"]
    assert any(c.get("err_text", c["err"]) < c["err"] for c in cases if c["margin"] == "ratio")


def test_xsim_chunking_does_not_change_the_choice(monkeypatch):
    emb, _ = DATA["synthetic"]
    full = {m: bitext.xsim_predictions(emb["aaa"], emb["ccc"], margin=m) for m in bitext.XSIM_MARGINS}
    monkeypatch.setattr(score, "BLOCK_ELEMENTS", 7 * 300)  # 7 rows per chunk
    for m in bitext.XSIM_MARGINS:
        np.testing.assert_array_equal(bitext.xsim_predictions(emb["aaa"], emb["ccc"], margin=m), full[m])


def test_xsim_k_candidates_against_naive_loops():
    """LASER's rule written out for a small random set: candidates = k nearest by cosine."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 10))
    y = x + 2.0 * rng.normal(size=x.shape)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    cos = xn @ yn.T
    a = np.sort(cos, axis=1)[:, -4:].mean(axis=1)
    b = np.sort(cos, axis=0)[-4:, :].mean(axis=0)
    expected = 0
    for i in range(60):
        cand = np.argsort(-cos[i])[:4]
        best = max(cand, key=lambda j: cos[i, j] / ((a[i] + b[j]) / 2))
        expected += int(best != i)
    assert expected > 0
    assert bitext.xsim_errors(x.astype(np.float32), y.astype(np.float32), k=4) == expected


def test_xsim_text_errors_and_bad_arguments():
    y = np.eye(4, dtype=np.float32)[[0, 1, 1, 3]]  # target 2 repeats target 1 (text and vector)
    x = y.copy()  # source 2's nearest is target 1 (lower index of the tie): an index error only
    assert bitext.xsim_errors(x, y, margin="absolute") == 1
    assert bitext.xsim_errors(x, y, margin="absolute", tgt_texts=["a", "b", "b", "d"]) == 0
    with pytest.raises(DataError, match="3 sentences for 4"):
        bitext.xsim_errors(x, y, tgt_texts=["a", "b", "c"])
    with pytest.raises(ConfigError, match="unknown margin"):
        bitext.xsim_errors(x, y, margin="cosine")
