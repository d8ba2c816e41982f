"""experiments/pareto.py: deltas against the study's base, and points kept from an earlier CSV."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "pareto.py"
spec = importlib.util.spec_from_file_location("pareto", SCRIPT)
pareto = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pareto)


def _write(root: Path, arm: str, seed: int, tatoeba: float, sts: float, sib: float) -> None:
    folder = root / "results" / arm / f"seed-{seed}"
    folder.mkdir(parents=True)
    rows = [
        {"task": "tatoeba", "metric": "accuracy", "subset": "deu", "value": tatoeba},
        {"task": "stsb", "metric": "spearman", "subset": "en", "value": sts},
        # a cross-lingual STS17 track is not monolingual STS: a huge value here must change nothing
        {"task": "sts17-semeval", "metric": "spearman", "subset": "en-de", "value": 999.0},
        {"task": "sib200", "metric": "accuracy", "subset": "deu_Latn", "value": sib},
    ]
    (folder / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read(path: Path) -> dict[tuple[str, str], dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {(r["study"], r["arm"]): r for r in csv.DictReader(fh)}


def test_deltas_against_base_and_kept_points(tmp_path):
    study = tmp_path / "study"
    _write(study, "base", 0, 90.0, 80.0, 70.0)
    _write(study, "arm", 0, 92.0, 79.0, 71.0)
    _write(study, "arm", 1, 94.0, 77.0, 71.0)
    old = tmp_path / "old.csv"
    old.write_text(
        "study,arm,seeds,d_bitext,d_bitext_sd,d_mono,d_mono_sd,d_cls,d_cls_sd\n"
        "s,arm,2,0.1,0.0,0.1,0.0,0.1,0.0\n"  # recomputed below: replaced
        "gone,other,3,1.5,0.2,-1.0,0.1,,\n",  # its folder is gone: kept, empty cells stay empty
        encoding="utf-8",
    )
    out_csv, png = tmp_path / "points.csv", tmp_path / "p.png"
    rc = pareto.main([f"s={study}", "--keep", str(old), "--csv", str(out_csv), "--png", str(png)])
    assert rc == 0 and png.stat().st_size > 0
    points = _read(out_csv)
    assert set(points) == {("s", "arm"), ("gone", "other")}
    fresh = points[("s", "arm")]
    assert fresh["seeds"] == "2"
    assert float(fresh["d_bitext"]) == pytest.approx(3.0) and float(fresh["d_bitext_sd"]) == pytest.approx(
        1.414, abs=1e-3
    )
    assert float(fresh["d_mono"]) == pytest.approx(-2.0) and float(fresh["d_cls"]) == pytest.approx(1.0)
    kept = points[("gone", "other")]
    assert kept["d_bitext"] == "1.5" and kept["d_cls"] == ""


def test_bad_inputs_exit_2_and_write_nothing(tmp_path, capsys):
    out_csv = tmp_path / "points.csv"
    assert pareto.main([f"s={tmp_path / 'missing'}", "--csv", str(out_csv)]) == 2
    assert pareto.main(["--csv", str(out_csv)]) == 2
    assert pareto.main(["--keep", str(tmp_path / "none.csv"), "--csv", str(out_csv)]) == 2
    assert not out_csv.exists()
    assert "nothing to draw" in capsys.readouterr().err


def test_foreign_outputs_and_foreign_keep_files_are_refused(tmp_path, capsys):
    """Never replace what this script did not write; a --keep file must be one it wrote."""
    study = tmp_path / "study"
    _write(study, "base", 0, 90.0, 80.0, 70.0)
    _write(study, "arm", 0, 92.0, 79.0, 71.0)
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\ndata,1\n", encoding="utf-8")
    png = tmp_path / "p.png"
    assert pareto.main([f"s={study}", "--csv", str(notes), "--png", str(png)]) == 2
    assert notes.read_text(encoding="utf-8") == "my,own\ndata,1\n" and not png.exists()
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"JPEG bytes")
    out_csv = tmp_path / "points.csv"
    assert pareto.main([f"s={study}", "--csv", str(out_csv), "--png", str(photo)]) == 2
    assert photo.read_bytes() == b"JPEG bytes" and not out_csv.exists()
    assert pareto.main(["--keep", str(notes), "--csv", str(out_csv), "--png", str(png)]) == 2
    assert "not a pareto_points CSV" in capsys.readouterr().err
    # its own outputs are replaced on the next run
    assert pareto.main([f"s={study}", "--csv", str(out_csv), "--png", str(png)]) == 0
    assert pareto.main([f"s={study}", "--csv", str(out_csv), "--png", str(png)]) == 0
