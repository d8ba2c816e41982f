"""Pareto view of every study arm: bitext gain against the change in monolingual STS and in
classification, each relative to the study's own base model, mean ± sd over seeds.

    PYTHONPATH=src python experiments/pareto.py \\
        table1=/work/measure/table1 mwx=/work/measure/mwx recipe=/work/measure/recipe \\
        --csv experiments/pareto_points.csv --png experiments/pareto.png

Inputs are study output folders (``results/<arm>/seed-N/*.jsonl``, ``results/base/seed-0``).
``--keep OLD.csv`` starts from the points of an earlier run of this script (for studies whose output
folders are gone); a point recomputed from a folder replaces the kept point of the same study and arm.
Measures (headline rows only):
- bitext: mean Tatoeba ``accuracy`` (XTREME direction, eng→xxx) over the study's languages;
- mono STS: mean Spearman over the monolingual subsets present (STS-B multi-mt ``stsb`` languages
  and the SemEval-2017 tracks ar-ar, es-es, en-en);
- classification: mean SIB-200 accuracy over ``sib200`` (in-language) and ``sib200-x`` (zero-shot
  from English) subsets, where the study measured it.
Studies evaluate different test subsets (Tatoeba-14@300, Tatoeba-36@100, …): points are comparable
within a study; across studies only as deltas against each study's own base.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from pathlib import Path

from polyalign.io import atomic_path, write_text_atomic

MEASURES = {
    "bitext": "Δ Tatoeba accuracy (eng→xxx)",
    "mono": "Δ monolingual STS (Spearman)",
    "cls": "Δ SIB-200 accuracy",
}


def _rows(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def measures(rows: list[dict]) -> dict[str, float]:
    """The three summary numbers of one evaluated model (a measure absent from the rows is left out)."""
    pick: dict[str, list[float]] = {k: [] for k in MEASURES}
    for r in rows:
        task, metric, subset = r["task"], r["metric"], r["subset"]
        if task == "tatoeba" and metric == "accuracy":
            pick["bitext"].append(r["value"])
        elif metric == "spearman" and (
            task == "stsb" or (task == "sts17-semeval" and subset in ("ar-ar", "es-es", "en-en"))
        ):
            pick["mono"].append(r["value"])
        elif task in ("sib200", "sib200-x") and metric == "accuracy":
            pick["cls"].append(r["value"])
    return {k: statistics.fmean(v) for k, v in pick.items() if v}


def study_points(label: str, out: Path) -> list[dict]:
    base = measures(_rows(out / "results" / "base" / "seed-0"))
    points = []
    for arm_dir in sorted(p for p in (out / "results").iterdir() if p.is_dir() and p.name != "base"):
        seeds = [measures(_rows(s)) for s in sorted(arm_dir.glob("seed-*")) if any(s.glob("*.jsonl"))]
        if not seeds:
            continue
        point = {"study": label, "arm": arm_dir.name, "seeds": len(seeds)}
        for key in MEASURES:
            deltas = [s[key] - base[key] for s in seeds if key in s and key in base]
            if deltas:
                point[f"d_{key}"] = round(statistics.fmean(deltas), 3)
                point[f"d_{key}_sd"] = round(statistics.stdev(deltas), 3) if len(deltas) > 1 else 0.0
        points.append(point)
    return points


FIELDS = ["study", "arm", "seeds"] + [f"d_{k}{s}" for k in MEASURES for s in ("", "_sd")]


def read_points(path: Path) -> list[dict]:
    """Points written by an earlier run (numbers back to numbers; empty cells dropped)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != FIELDS:
            raise ValueError(f"{path}: not a pareto_points CSV (header {reader.fieldnames})")
        rows = list(reader)
    points = []
    for row in rows:
        point: dict = {"study": row["study"], "arm": row["arm"], "seeds": int(row["seeds"])}
        point.update({k: float(v) for k, v in row.items() if k.startswith("d_") and v != ""})
        points.append(point)
    return points


def ours(csv_path: Path, png: Path) -> str | None:
    """Why an existing output may not be replaced (not written by this script), or None."""
    if csv_path.exists():
        with open(csv_path, encoding="utf-8", errors="replace") as fh:
            if fh.readline().rstrip("\n") != ",".join(FIELDS):
                return f"{csv_path} exists and is not a pareto_points CSV; not replaced"
    if png.exists() and png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return f"{png} exists and is not a PNG; not replaced"
    return None


def plot(points: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), constrained_layout=True)
    studies = sorted({p["study"] for p in points})
    markers = dict(zip(studies, "osD^vP*X"))
    colors = {s: f"C{i}" for i, s in enumerate(studies)}
    for ax, key in zip(axes, ("mono", "cls")):
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        for p in points:
            if f"d_{key}" not in p or "d_bitext" not in p:
                continue
            ax.errorbar(
                p[f"d_{key}"],
                p["d_bitext"],
                xerr=p[f"d_{key}_sd"],
                yerr=p["d_bitext_sd"],
                fmt=markers[p["study"]],
                color=colors[p["study"]],
                capsize=3,
                label=p["study"],
            )
            ax.annotate(
                f"{p['arm']} ({p['seeds']})",
                (p[f"d_{key}"], p["d_bitext"]),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
            )
        ax.set_xlabel(MEASURES[key] + " vs base")
        ax.set_ylabel(MEASURES["bitext"] + " vs base")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        if unique:
            ax.legend(unique.values(), unique.keys(), title="study", fontsize=8)
    axes[0].set_title("bitext gain vs monolingual STS (up and right is better)")
    axes[1].set_title("bitext gain vs classification (SIB-200)")
    fig.suptitle(
        "me5-small-q4, CPU scale; error bars: sd over seeds (number of seeds in brackets)", fontsize=9
    )
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=130, format="png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("studies", nargs="*", help="LABEL=STUDY_OUT_FOLDER")
    p.add_argument(
        "--keep", type=Path, help="an earlier pareto_points.csv whose points stay unless recomputed"
    )
    p.add_argument("--csv", type=Path, default=Path("experiments/pareto_points.csv"))
    p.add_argument("--png", type=Path, default=Path("experiments/pareto.png"))
    args = p.parse_args(argv)
    points = []
    for spec in args.studies:
        label, _, folder = spec.partition("=")
        if not folder or not (Path(folder) / "results" / "base").is_dir():
            print(f"pareto: {spec!r}: give LABEL=FOLDER of a study with results/base", file=sys.stderr)
            return 2
        points += study_points(label, Path(folder))
    if args.keep and not args.keep.is_file():
        print(f"pareto: --keep {args.keep}: no such file", file=sys.stderr)
        return 2
    if args.keep:
        fresh = {(pt["study"], pt["arm"]) for pt in points}
        try:
            kept = read_points(args.keep)
        except (ValueError, KeyError) as err:
            print(f"pareto: --keep {err}", file=sys.stderr)
            return 2
        points += [pt for pt in kept if (pt["study"], pt["arm"]) not in fresh]
    if not points:
        print("pareto: nothing to draw: give LABEL=FOLDER or --keep CSV", file=sys.stderr)
        return 2
    refusal = ours(args.csv, args.png)
    if refusal:
        print(f"pareto: {refusal}", file=sys.stderr)
        return 2
    points.sort(key=lambda pt: (pt["study"], pt["arm"]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(points)
    write_text_atomic(args.csv, out.getvalue())
    plot(points, args.png)
    for pt in points:
        print(json.dumps(pt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
