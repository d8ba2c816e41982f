"""experiments/summary_table.py: an arm known only by its printed mean ± sd is compared by Welch's test
from summary statistics, which must equal scipy's Welch test on the raw per-seed values."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path

import pytest
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "summary_table.py"
spec = importlib.util.spec_from_file_location("summary_table", SCRIPT)
summary_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(summary_table)


def _run(monkeypatch, capsys, *argv: str) -> str:
    monkeypatch.setattr(sys, "argv", ["summary_table.py", *argv])
    summary_table.main()
    return capsys.readouterr().out


def test_printed_arm_welch_equals_raw_welch(tmp_path, monkeypatch, capsys):
    a, b = [70.1, 70.9, 70.4], [68.2, 69.0, 68.7]
    for seed, value in enumerate(a):
        folder = tmp_path / "results" / "a" / f"seed-{seed}"
        folder.mkdir(parents=True)
        row = {"task": "stsb", "metric": "spearman", "subset": "en", "value": value}
        (folder / "r.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    printed = f"b:3:STSb mono={statistics.fmean(b)},{statistics.stdev(b)}"
    out = _run(monkeypatch, capsys, str(tmp_path), "a=results/a", "--printed", printed, "--pairs", "b:a")
    d, p = re.search(r"STSb mono ([+-][\d.]+) \(p=([\d.]+)\)", out).groups()
    assert float(d) == pytest.approx(statistics.fmean(a) - statistics.fmean(b), abs=0.005)
    assert float(p) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, abs=0.0005)
    assert "| b (as printed) | 3 |" in out


@pytest.mark.parametrize("bad", ["b:1:STSb mono=1,2", "b:3:No such column=1,2", "b:3:STSb mono=1", "nothing"])
def test_bad_printed_arm_is_a_one_line_error(tmp_path, monkeypatch, capsys, bad):
    with pytest.raises(SystemExit, match="--printed"):
        _run(monkeypatch, capsys, str(tmp_path), "a=results/a", "--printed", bad)
