"""The mining loop, measured: mined groups -> `polyalign train` -> evaluation, beside the true groups.

    python experiments/mine_loop/run.py --out runs/mine_loop --lock /work/notes/cpu.lock

1. **Hide**: each language's 997 FLORES-200 *dev* sentences among ``--distractors`` x as many other
   sentences of the same language — XNLI dev+test premises and hypotheses only, so that nothing the
   evaluation reads (FLORES devtest, Tatoeba) is in the mining input; English (the pivot) among
   ``--distractors`` x STS-B sentences. Shuffled, one file per language (``OUT/input``).
2. **Mine** with the real command, `polyalign mine --model me5-small-q4 --pivot eng:... --lang ...`,
   twice: the default threshold (1.06), and ``--dev-gold`` for the first language only (its
   threshold is the F1-best one on its gold; every other language takes that value — what a user
   with gold pairs in one language gets). The second run reuses the embedding shards of the first.
   The mined pairs are scored against the FLORES alignment (precision / recall).
3. **Train** me5-small-q4 on each mined corpus and on the true FLORES dev groups of the same
   languages (`polyalign data build flores --split dev`), with MPCL Table 1's CPU settings
   (experiments/mpcl_table1/config.yaml: 16 groups per step, 1 epoch, lr 2e-5, τ 0.05, 64 training
   tokens, frozen word embeddings, loss multi), one thread.
4. **Evaluate** the base model and each trained one on ``flores-xsim:LANGS`` (devtest, xxx->eng
   error, lower is better) and ``tatoeba:LANGS`` (eng->xxx accuracy).

Every step is skipped when its output exists (rerun to resume); heavy steps run under
``flock --lock`` so that runs on a shared CPU queue. Writes ``OUT/table.md`` and ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

FLORES = {"deu": "deu_Latn", "swh": "swh_Latn", "fra": "fra_Latn", "urd": "urd_Arab", "tha": "tha_Thai"}
XNLI = {"deu": "de", "swh": "sw", "fra": "fr", "urd": "ur", "tha": "th"}
TRAIN = [
    "--batch-groups", "16", "--epochs", "1", "--lr", "2e-5", "--temperature", "0.05",
    "--max-seq-length", "64", "--freeze-embeddings", "true", "--loss", "multi",
    "--save-every", "1000", "--log-every", "10",
]  # fmt: skip


def _polyalign(args, argv: list[str], lock: str | None) -> None:
    cmd = [sys.executable, "-m", "polyalign.cli", *argv]
    if lock:
        cmd = ["flock", lock, *cmd]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    print(f"  ({time.perf_counter() - t0:.0f} s, load {Path('/proc/loadavg').read_text().split()[:3]})")


def hide(args, langs: list[str], folder: Path) -> dict:
    """Write OUT/input/<lang>.txt and gold files; return the FLORES rows' line numbers per file."""
    import bench_mine as bm

    from polyalign.data import readers

    info_path = folder / "hidden.json"
    if info_path.is_file():
        return json.loads(info_path.read_text())
    rng = random.Random(args.seed)
    flores = readers.read_flores(args.data_dir, "dev", ["eng_Latn", *(FLORES[x] for x in langs)])
    hidden = {"eng": flores["eng_Latn"], **{x: flores[FLORES[x]] for x in langs}}
    pools = {"eng": bm._english_distractors(args.data_dir)}
    for x in langs:
        pools[x] = [
            t
            for ex in readers.read_xnli(args.data_dir, [XNLI[x]])
            for t in (ex.premise[XNLI[x]], ex.hypothesis[XNLI[x]])
        ]
    folder.mkdir(parents=True, exist_ok=True)
    info = {"ratio": {}, "line_of_row": {}}
    for code, sents in hidden.items():
        lines, ratio = bm._hide(sents, pools[code], args.distractors, rng)
        where = {t: n for n, t in enumerate(lines, start=1)}
        info["ratio"][code] = round(ratio, 2)
        info["line_of_row"][code] = [where[t] for t in sents]
        (folder / f"{code}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for x in langs:
        gold = zip(info["line_of_row"]["eng"], info["line_of_row"][x])
        (folder / f"gold-{x}.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in gold), encoding="utf-8")
    info["hidden"] = {code: sents for code, sents in hidden.items()}
    info_path.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return info


def pair_scores(mined: Path, info: dict, langs: list[str]) -> dict:
    """Precision / recall of each mined pairs file against the FLORES alignment, and group counts."""
    out = {}
    for x in langs:
        truth = set(zip(info["hidden"]["eng"], info["hidden"][x]))
        rows = (mined / "pairs" / f"eng-{x}.tsv").read_text(encoding="utf-8").splitlines()
        pairs = {tuple(r.split("\t")[:2]) for r in rows if r}
        tp = len(pairs & truth)
        out[x] = {
            "pairs": len(pairs),
            "precision": round(100 * tp / max(1, len(pairs)), 1),
            "recall": round(100 * tp / len(truth), 1),
        }
    meta = json.loads((mined / "mine.json").read_text())
    out["groups"] = meta["groups"]
    out["thresholds"] = {x: round(meta["languages"][x]["threshold"], 4) for x in langs}
    return out


def read_scores(path: Path, langs: list[str]) -> dict:
    scores = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["task"] == "flores-xsim" and row["metric"] == "xsim_error":
            scores[f"xsim {row['subset']}"] = row["value"]
        elif row["task"] == "tatoeba" and row["metric"] == "accuracy":
            scores[f"tatoeba {row['subset']}"] = row["value"]
    return scores


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/mine_loop")
    p.add_argument("--langs", default="deu,swh", help=f"from {', '.join(FLORES)}")
    p.add_argument("--model", default="me5-small-q4")
    p.add_argument("--distractors", type=float, default=10.0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lock", default=None, help="run heavy steps under `flock LOCK`")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    langs = [x for x in args.langs.split(",") if x]
    out = Path(args.out).resolve()
    info = hide(args, langs, out / "input")
    cache = str(out / "cache")
    th = ["--threads", str(args.threads)]
    mine_common = [
        "mine",
        "--model",
        args.model,
        "--pivot",
        f"eng:{out / 'input/eng.txt'}",
        "--cache-dir",
        cache,
    ]
    mine_common += [a for x in langs for a in ("--lang", f"{x}:{out / 'input' / f'{x}.txt'}")] + th
    arms = {
        "mined-1.06": [],
        f"mined-gold-{langs[0]}": ["--dev-gold", f"{langs[0]}:{out / 'input' / f'gold-{langs[0]}.tsv'}"],
    }
    summary = {"langs": langs, "distractor_ratio": info["ratio"], "mining": {}, "eval": {}}
    corpora = {}
    for arm, extra in arms.items():
        if not (out / arm / "mine.json").is_file():
            _polyalign(args, [*mine_common, *extra, "--out", str(out / arm)], args.lock)
        summary["mining"][arm] = pair_scores(out / arm, info, langs)
        corpora[arm] = out / arm / "corpus"
    true_corpus = out / "true-flores-dev"
    if not true_corpus.is_dir():
        codes = ",".join(["eng_Latn", *(FLORES[x] for x in langs)])
        _polyalign(
            args,
            ["data", "build", "flores", "--split", "dev", "--langs", codes, "--out", str(true_corpus)],
            None,
        )
    corpora["true-flores-dev"] = true_corpus
    models = {"base": args.model}
    for arm, corpus in corpora.items():
        run = out / "runs" / arm
        if not (run / "modules.json").is_file():  # `polyalign train` saves the model at --out
            argv = ["train", "--model", args.model, "--data", str(corpus), "--out", str(run), *TRAIN]
            _polyalign(
                args, [*argv, "--seed", str(args.seed), "--no-progress", "--overwrite", "true"], args.lock
            )
        models[arm] = str(run)
    tasks = [f"flores-xsim:{','.join(langs)}", f"tatoeba:{','.join(langs)}"]
    for name, model in models.items():
        res = out / "eval" / f"{name}.jsonl"
        if not res.is_file():
            argv = [
                "eval",
                "--model",
                model,
                "--name",
                name,
                "--tasks",
                *tasks,
                "--out",
                str(res),
                "--no-progress",
            ]
            _polyalign(args, [*argv, *th, "--cache-dir", str(out / "eval-cache")], args.lock)
        summary["eval"][name] = read_scores(res, langs)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = render(summary, langs)
    (out / "table.md").write_text(table)
    print(table)
    return 0


def render(summary: dict, langs: list[str]) -> str:
    cols = sorted({c for s in summary["eval"].values() for c in s})
    head = "| model | groups (complete) | " + " | ".join(cols) + " |\n|---|---|" + "---:|" * len(cols) + "\n"
    lines = []
    base = summary["eval"]["base"]
    for name, scores in summary["eval"].items():
        m = summary["mining"].get(name)
        groups = (
            f"{m['groups']['groups']} ({m['groups']['complete']})"
            if m
            else ("997 (997)" if "true" in name else "—")
        )
        cells = []
        for c in cols:
            v = scores.get(c)
            delta = "" if name == "base" or v is None else f" ({v - base[c]:+.2f})"
            cells.append("—" if v is None else f"{v:.2f}{delta}")
        lines.append(f"| {name} | {groups} | " + " | ".join(cells) + " |")
    mining = ["", "| mined corpus | " + " | ".join(f"{x} thr / pairs / P / R" for x in langs) + " |"]
    mining.append("|---|" + "---|" * len(langs))
    for arm, m in summary["mining"].items():
        cells = [
            f"{m['thresholds'][x]} / {m[x]['pairs']} / {m[x]['precision']} / {m[x]['recall']}" for x in langs
        ]
        mining.append(f"| {arm} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n" + "\n".join(mining) + "\n"


if __name__ == "__main__":
    sys.exit(main())
