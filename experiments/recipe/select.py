"""The recipe's selection on development data, applied mechanically (issue 13 B).

    PYTHONPATH=src python experiments/recipe/select.py ROOT [ROOT ...] [--min-seeds 3]

ROOTs are output folders of ``polyalign study experiments/recipe/dev.yaml`` (``results/<arm>/seed-N``);
an arm's seeds may come from several roots (the same corpus and settings), a seed twice is an error.
Per model: FLORES-200 *dev* xsim (LASER, xxx→eng) over yor/hau/khm/amh/zul/som @300, STS-B *dev*
Spearman (en/de/es/zh @250), SIB-200 *dev* accuracy in-language and zero-shot (deu/zho/hin/swh), and,
where evaluated, STS-B *dev-6* (fr/it/nl/pl/pt/ru @500: the second STS dev set, added in E5 because
STS-B dev did not predict the test cost of E4's arm). ``--extra ROOT`` adds rows evaluated later on
the same models (``results/<arm>/seed-N``, e.g. STS-B dev-6 of the E4 models).

The rule, fixed before the 3-seed dev runs and taken from the goal: among arms with at least
``--min-seeds`` seeds, keep those whose mean dev xsim is not above +Single's (``single``) and whose
mean SIB-200 dev accuracies (both) are not below +Single's; the recipe is the kept arm with the best
mean STS-B dev — from E5 on, the mean of STS-B dev and STS-B dev-6 when every kept arm has both.
``single`` itself always qualifies, so something is always chosen.

``--noise`` (added after the 2-seed results, reported apart): the issue's "beyond seed noise" — an
arm is out on a measure only if it is on the wrong side of +Single's mean *and* a Welch t-test over
the per-seed values gives p < 0.05.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HARD = ("yor", "hau", "khm", "amh", "zul", "som")
STS_LANGS = ("en", "de", "es", "zh")
STS6_LANGS = ("fr", "it", "nl", "pl", "pt", "ru")
OPTIONAL = {"sts6"}  # evaluated from E5 on; older runs may lack it
MEASURES = {  # name: (task, metric, row filter, higher is better)
    "xsim": ("flores-dev-xsim", "xsim_error", lambda r: r["n"] == 300 and r["subset"][:3] in HARD, False),
    "sts": ("stsb-dev", "spearman", lambda r: r["subset"] in STS_LANGS, True),
    "sts6": ("stsb-dev", "spearman", lambda r: r["subset"] in STS6_LANGS, True),
    "sib": ("sib200-dev", "accuracy", lambda r: True, True),
    "sib_x": ("sib200-x-dev", "accuracy", lambda r: True, True),
}
HEADERS = {
    "xsim": "FLORES dev xsim ↓ (6 low-resource @300)",
    "sts": "STS-B dev",
    "sts6": "STS-B dev-6",
    "sib": "SIB-200 dev",
    "sib_x": "SIB-200-x dev",
}


def seed_scores(folder: Path) -> dict[str, float]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = {}
    for name, (task, metric, keep, _) in MEASURES.items():
        values = [r["value"] for r in rows if r["task"] == task and r["metric"] == metric and keep(r)]
        if values:
            out[name] = statistics.fmean(values)
    return out


def collect(roots: list[Path], extra: list[Path] = ()) -> dict[str, dict[int, dict[str, float]]]:
    arms: dict[str, dict[int, dict[str, float]]] = {}
    required = set(MEASURES) - OPTIONAL
    for root in roots:
        for seed_dir in sorted((root / "results").glob("*/seed-*")):
            arm, seed = seed_dir.parent.name, int(seed_dir.name.split("-")[1])
            if seed in arms.get(arm, {}):
                if arm == "base":  # the same base model, evaluated by each study
                    continue
                raise SystemExit(f"{seed_dir}: {arm} seed {seed} also in another root")
            scores = seed_scores(seed_dir)
            if required <= set(scores):  # a run whose evaluation is incomplete is left out
                arms.setdefault(arm, {})[seed] = scores
    for root in extra:  # later evaluations of the same models: only fill measures a run lacks
        for seed_dir in sorted((root / "results").glob("*/seed-*")):
            arm, seed = seed_dir.parent.name, int(seed_dir.name.split("-")[1])
            if seed in arms.get(arm, {}):
                for name, value in seed_scores(seed_dir).items():
                    arms[arm][seed].setdefault(name, value)
    return arms


def summarise(seeds: dict[int, dict[str, float]]) -> dict[str, tuple[float, float] | None]:
    out = {}
    for name in MEASURES:
        values = [s[name] for s in seeds.values() if name in s]
        if len(values) < len(seeds):  # an optional measure on some seeds only: not comparable
            out[name] = None
            continue
        out[name] = (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return out


def _worse(arm_seeds, ref_seeds, name: str, noise: bool) -> bool:
    higher_better = MEASURES[name][3]
    a, b = [s[name] for s in arm_seeds.values()], [s[name] for s in ref_seeds.values()]
    gap = statistics.fmean(a) - statistics.fmean(b)
    if (gap >= 0) if higher_better else (gap <= 0):
        return False
    if not noise:
        return True
    from scipy import stats

    return bool(stats.ttest_ind(a, b, equal_var=False).pvalue < 0.05)


def sts_dev(m: dict[str, tuple[float, float] | None], both: bool) -> float:
    """The STS measure the choice ranks by: STS-B dev, or its mean with STS-B dev-6."""
    return (m["sts"][0] + m["sts6"][0]) / 2 if both else m["sts"][0]


def select(
    arms: dict[str, dict[int, dict[str, float]]], min_seeds: int, noise: bool = False
) -> tuple[str, dict[str, str]]:
    """The chosen arm, and for every arm why it was kept or not."""
    if len(arms.get("single", {})) < min_seeds:
        raise SystemExit(f"+Single ('single') needs {min_seeds} seeds with complete dev results")
    verdicts, kept = {}, []
    for arm, seeds in sorted(arms.items()):
        if arm == "base":
            verdicts[arm] = "reference"
            continue
        if len(seeds) < min_seeds:
            verdicts[arm] = f"{len(seeds)} seed(s): not a candidate"
            continue
        failed = [n for n in ("xsim", "sib", "sib_x") if _worse(seeds, arms["single"], n, noise)]
        verdicts[arm] = "kept" if not failed else "out: " + ", ".join(HEADERS[n] for n in failed)
        if not failed:
            kept.append((summarise(seeds), arm))
    both = all(m["sts6"] is not None for m, _ in kept)
    chosen = max(kept, key=lambda k: (sts_dev(k[0], both), k[1]))[1]
    what = "STS-B dev and dev-6" if both else "STS-B dev"
    verdicts[chosen] = f"**chosen** (best {what} of the kept)"
    return chosen, verdicts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("roots", nargs="+", type=Path)
    p.add_argument(
        "--extra", action="append", type=Path, default=[], help="later evaluations of the same models"
    )
    p.add_argument("--min-seeds", type=int, default=3)
    p.add_argument("--noise", action="store_true", help="worse only beyond seed noise (Welch p < 0.05)")
    args = p.parse_args(argv)
    arms = collect(args.roots, args.extra)
    chosen, verdicts = select(arms, args.min_seeds, args.noise)
    print("| arm | seeds | " + " | ".join(HEADERS.values()) + " | rule |")
    print("|---|---:|" + "---:|" * len(HEADERS) + "---|")
    for arm in sorted(arms, key=lambda a: (a != "base", a != "single", a)):
        m = summarise(arms[arm])
        cells = [
            "–" if v is None else f"{v[0]:.2f} ± {v[1]:.2f}" if len(arms[arm]) > 1 else f"{v[0]:.2f}"
            for v in m.values()
        ]
        print(f"| {arm} | {len(arms[arm])} | " + " | ".join(cells) + f" | {verdicts[arm]} |")
    print(f"\nchosen: {chosen}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
