"""Reports: deltas with mean ± sd over seeds, paired tests, PNG figures, the report CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from polyalign import report
from polyalign.cli import main
from polyalign.errors import DataError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(model, values: dict[str, float], task="tatoeba", metric="accuracy", seen=("deu",)):
    return [
        {
            "model": model,
            "task": task,
            "subset": f"{lang}-eng",
            "metric": metric,
            "value": v,
            "seen": lang in seen,
            "langs": [lang, "eng"],
        }
        for lang, v in values.items()
    ]


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def results(tmp_path):
    base = {"deu": 90.0, "fra": 80.0, "swh": 50.0}
    s0 = {"deu": 92.0, "fra": 83.0, "swh": 55.0}
    s1 = {"deu": 94.0, "fra": 85.0, "swh": 57.0}
    xb, x0, x1 = (
        {"deu": 5.0, "fra": 8.0, "swh": 30.0},
        {"deu": 4.0, "fra": 6.0, "swh": 20.0},
        {"deu": 4.0, "fra": 7.0, "swh": 22.0},
    )
    paths = {
        "base": _write(
            tmp_path / "base" / "m.jsonl",
            _rows("base", base) + _rows("base", xb, "flores-xsim", "xsim_error"),
        ),
        "s0": _write(
            tmp_path / "s0" / "m.jsonl", _rows("multi", s0) + _rows("multi", x0, "flores-xsim", "xsim_error")
        ),
        "s1": _write(
            tmp_path / "s1.jsonl", _rows("multi", s1) + _rows("multi", x1, "flores-xsim", "xsim_error")
        ),
    }
    return paths, (base, s0, s1)


def test_compare_mean_sd_delta(results):
    paths, (base, s0, s1) = results
    b = report.scores_by_label([report.load_results(paths["base"].parent)], "base")
    m = report.scores_by_label([report.load_results(paths["s0"]), report.load_results(paths["s1"])], "multi")
    comp = report.compare(b, [m])
    tat = next(c for c in comp if c["task"] == "tatoeba" and c["group"] == "all")
    seed_means = [np.mean(list(s0.values())), np.mean(list(s1.values()))]
    assert tat["base"] == pytest.approx(np.mean(list(base.values())))
    assert tat["mean"] == pytest.approx(np.mean(seed_means))
    assert tat["sd"] == pytest.approx(np.std(seed_means, ddof=1))
    assert tat["delta"] == pytest.approx(np.mean(seed_means) - np.mean(list(base.values())))
    assert tat["n_seeds"] == 2 and tat["n_subsets"] == 3
    seen = next(c for c in comp if c["task"] == "tatoeba" and c["group"] == "seen")
    assert seen["n_subsets"] == 1 and seen["delta"] == pytest.approx(3.0)
    xs = next(c for c in comp if c["task"] == "flores-xsim" and c["group"] == "all")
    assert xs["delta"] < 0 and xs["higher_is_better"] is False
    table = report.deltas_table(comp)
    assert "| tatoeba | accuracy ↑ | all | 3 |" in table
    assert f"{tat['mean']:.1f} ± {tat['sd']:.1f}" in table and f"{tat['delta']:+.1f} ✓" in table
    assert "xsim_error ↓" in table


def test_paired_test_matches_scipy():
    a = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    b = [11.0, 22.5, 29.0, 44.0, 55.0, 67.0]
    assert report.paired_test(a, b, "ttest") == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert report.paired_test(a, b, "wilcoxon") == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert math.isnan(report.paired_test(a, a))
    assert math.isnan(report.paired_test([1.0], [2.0]))


def test_load_results_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        report.load_results(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.jsonl"):
        report.load_results(tmp_path / "empty")
    bad = _write(tmp_path / "bad.jsonl", [{"task": "tatoeba", "value": 1}])
    with pytest.raises(DataError, match="lacks subset, metric"):
        report.load_results(bad)


def _check_png(path, min_bytes=2000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > min_bytes


def test_delta_bar_chart_png(results, tmp_path):
    paths, _ = results
    b = report.scores_by_label([report.load_results(paths["base"])], "base")
    m = report.scores_by_label([report.load_results(paths["s0"]), report.load_results(paths["s1"])], "multi")
    out = report.delta_bar_chart(b, [m], "tatoeba", tmp_path / "fig" / "bars.png")
    _check_png(out)


def test_similarity_heatmap_png(tiny_encoder, tmp_path):
    texts = {
        "eng": ["A cat sleeps.", "It rains today."],
        "deu": ["Eine Katze schläft.", "Heute regnet es."],
        "fra": ["Un chat dort.", "Il pleut aujourd'hui."],
    }
    sim, labels = report.similarity_matrix(tiny_encoder, texts)
    assert sim.shape == (6, 6) and labels[:3] == ["eng:1", "deu:1", "fra:1"]
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    _check_png(report.similarity_heatmap(tiny_encoder, texts, tmp_path / "heat.png"))
    with pytest.raises(DataError, match="same non-zero number"):
        report.similarity_matrix(tiny_encoder, {"eng": ["a"], "deu": ["a", "b"]})


def test_flores_heatmap(tiny_encoder, data_dir, tmp_path):
    _check_png(
        report.flores_heatmap(tiny_encoder, ["en", "de", "zh"], tmp_path / "f.png", n=2, data_dir=data_dir)
    )


def test_report_cli_compare(results, tmp_path, capsys):
    paths, _ = results
    out = tmp_path / "report"
    argv = [
        "report",
        "compare",
        "--base",
        str(paths["base"].parent),
        "--runs",
        f"multi={paths['s0'].parent},{paths['s1']}",
        f"single={paths['s0']}",
        "--out",
        str(out),
        "--test",
        "ttest",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Δ multi" in printed and "Δ single" in printed
    assert (out / "deltas.md").read_text().startswith("| task |")
    _check_png(out / "deltas_tatoeba_accuracy.png")
    _check_png(out / "deltas_flores-xsim_xsim_error.png")
    assert main(["report", "compare", "--base", str(paths["base"]), "--runs", "broken"]) == 1
    assert "LABEL=PATH" in capsys.readouterr().err
