"""`polyalign mine` measured: recovery of hidden translations, and speed / memory of mining.

    python bench/bench_mine.py recovery --langs deu_Latn,swh_Latn,urd_Arab,tha_Thai --threads 1
    python bench/bench_mine.py speed --sizes 10000,30000,100000 --nprobe 8,16,32 --threads 2
    python bench/bench_mine.py smoke            # both, tiny settings (a minute on a 2-core CPU)

**recovery** (issue 14): each language's FLORES-200 dev sentences (997, ``--hidden``) are hidden
among ``--distractors`` x as many other sentences of the same language — XNLI dev+test premises and
hypotheses, the language side of Tatoeba, FLORES devtest (SIB-200's texts are FLORES dev+devtest
sentences, so SIB adds nothing beyond devtest and would plant duplicates of the hidden sentences).
The English pivot is FLORES eng dev hidden among ``--pivot-distractors`` x English STS-B sentences,
of which no distractor of another language is a translation. Everything is shuffled, mined with
`polyalign mine`'s pipeline against English, and scored against the FLORES alignment:
precision / recall / F1 of the mined pairs per language, and of complete multi-way groups (a group
is correct when every language's member is the FLORES translation of its English sentence), at
three thresholds: the documented default, ``oracle`` (the F1-best on this very gold: an upper
bound) and ``loo`` (leave one language out: the mean oracle threshold of the *other* languages —
what a user with a dev set in some languages gets). A language with fewer distractors available
than asked says so (``distractor_ratio``).

**speed**: mining N x N sentences for each N of ``--sizes`` (k-NN both ways, margins, ``max``),
each in a fresh process so that its peak RSS is its own, for each search backend available
(torch exact, faiss exact, faiss IVF; ``--backends``), on clustered synthetic unit vectors of
``--dim`` (384: me5-small) stored as float16 shards like the real pipeline. IVF rows also report
the recall of its k neighbours against exact search (when exact search ran at that size);
``--nprobe 8,32,64`` sweeps the IVF probes, ``--lists-per-sqrt`` sets its lists. Synthetic clusters
are easier for IVF than sentences: ``--real CACHE`` takes real float16 embeddings from a mining
cache instead (e.g. the one experiments/mine_loop fills: 33k me5-small vectors, so N <= 16k).
Encoding speed is measured separately (``--encode-sample`` sentences with ``--model``), since it
dominates on a CPU: sentences/s x 2N gives the encoding time of an N x N run.

Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _emit(row: dict) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
    fork + exec, so a child started by a big parent would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------------
# Recovery


def _distractors(data_dir, flores_code: str) -> list[str]:
    """Same-language sentences that are not FLORES dev: XNLI, Tatoeba, FLORES devtest."""
    from polyalign.data import readers
    from polyalign.errors import PolyalignError
    from polyalign.langs import ISO3_TO_ISO1, canonical

    out: list[str] = []
    iso1 = ISO3_TO_ISO1.get(canonical(flores_code))
    if iso1 in readers.XNLI_LANGS:
        for ex in readers.read_xnli(data_dir, [iso1]):
            out += [ex.premise[iso1], ex.hypothesis[iso1]]
    try:
        src, _ = readers.read_tatoeba_pair(data_dir, flores_code)
        out += src
    except PolyalignError:
        pass
    out += readers.read_flores(data_dir, "devtest", [flores_code])[flores_code]
    return out


def _english_distractors(data_dir) -> list[str]:
    from polyalign.io import read_lines, resolve_data_dir

    out = []
    for split in ("train", "dev", "test"):
        for line in read_lines(resolve_data_dir(data_dir) / "stsb_en" / f"sts-{split}.csv"):
            cells = line.split("\t")
            if len(cells) >= 7:
                out += [cells[5], cells[6]]
    return out


def _hide(hidden: list[str], pool: list[str], factor: float, rng: random.Random) -> tuple[list[str], float]:
    """hidden + up to factor x len(hidden) pool sentences (none equal to a hidden one), shuffled."""
    from polyalign.mine.filters import norm

    keys = {norm(t) for t in hidden}
    pool = list(dict.fromkeys(t for t in pool if t.strip() and norm(t) not in keys))
    rng.shuffle(pool)
    extra = pool[: int(factor * len(hidden))]
    lines = hidden + extra
    rng.shuffle(lines)
    return lines, len(extra) / max(1, len(hidden))


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {
        "precision": round(100 * p, 2),
        "recall": round(100 * r, 2),
        "f1": round(200 * p * r / (p + r), 2) if p + r else 0.0,
    }


def recovery(args) -> None:
    import numpy as np

    from polyalign.data import readers
    from polyalign.mine.groups import join_through_pivot
    from polyalign.mine.pipeline import DEFAULT_THRESHOLD, MineConfig, mine_texts, prepare_sentences
    from polyalign.mine.score import best_threshold

    langs = [x for x in args.langs.split(",") if x]
    rng = random.Random(args.seed)
    flores = readers.read_flores(args.data_dir, "dev", ["eng_Latn", *langs])
    keys = {"eng_Latn": "eng_Latn", **{lang: lang for lang in langs}}
    n = min(args.hidden, len(flores["eng_Latn"]))
    rows = rng.sample(range(len(flores["eng_Latn"])), n) if n < len(flores["eng_Latn"]) else list(range(n))
    hidden = {code: [flores[keys[code]][i] for i in rows] for code in keys}
    files, ratio = {}, {}
    files["eng_Latn"], ratio["eng_Latn"] = _hide(
        hidden["eng_Latn"], _english_distractors(args.data_dir), args.pivot_distractors, rng
    )
    for lang in langs:
        files[lang], ratio[lang] = _hide(
            hidden[lang], _distractors(args.data_dir, lang), args.distractors, rng
        )
    model, name = _load(args)
    cfg = MineConfig(
        k=args.k,
        strategy=args.strategy,
        threshold=-1e9,
        batch_size=args.batch_size,
        cache_dir=args.cache_dir,
        use_cache=args.cache_dir is not None,
        show_progress=False,
        max_length_ratio=args.max_length_ratio,
    )
    sents = {code: prepare_sentences(code, lines) for code, lines in files.items()}
    t0 = time.perf_counter()
    res = mine_texts(model, sents["eng_Latn"], [sents[lang] for lang in langs], cfg)
    seconds = time.perf_counter() - t0
    piv = sents["eng_Latn"]
    # FLORES row -> index in each cleaned set (a hidden sentence may have been removed by a filter).
    idx = {
        code: {
            i: sents[code].texts.index(t.strip()) if t.strip() in sents[code].texts else None
            for i, t in zip(rows, hidden[code])
        }
        for code in keys
    }
    gold = {
        lang: {
            (idx["eng_Latn"][i], idx[lang][i])
            for i in rows
            if idx["eng_Latn"][i] is not None and idx[lang][i] is not None
        }
        for lang in langs
    }
    all_pairs = {lang: res.results[lang].pairs for lang in langs}
    oracle = {lang: best_threshold(all_pairs[lang], gold[lang]) for lang in langs}
    settings = {"default": dict.fromkeys(langs, DEFAULT_THRESHOLD), "oracle": oracle}
    if len(langs) > 1:
        settings["loo"] = {lang: float(np.mean([oracle[o] for o in langs if o != lang])) for lang in langs}
    common = {"bench": "mine-recovery", "model": name, "hidden": n, "strategy": args.strategy, "k": args.k}
    for kind, thr in settings.items():
        kept = {lang: [p for p in all_pairs[lang] if p[2] >= thr[lang]] for lang in langs}
        for lang in langs:
            tp = len({(p, j) for p, j, _ in kept[lang]} & gold[lang])
            _emit(
                {
                    **common,
                    "threshold_kind": kind,
                    "lang": lang,
                    "threshold": round(thr[lang], 4),
                    "n_sentences": len(sents[lang].texts),
                    "distractor_ratio": round(ratio[lang], 2),
                    "n_pairs": len(kept[lang]),
                    "n_gold": len(gold[lang]),
                    **_prf(tp, len(kept[lang]), n),
                }
            )
        joined = join_through_pivot("eng_Latn", piv.texts, kept, {lang: sents[lang].texts for lang in langs})
        truth = {idx["eng_Latn"][i]: {lang: idx[lang][i] for lang in langs} for i in rows}
        pos = {t: i for i, t in enumerate(piv.texts)}
        complete = [r for r in joined.rows if all(r[lang] is not None for lang in langs)]
        correct = 0
        for r in complete:
            want = truth.get(pos[r["eng_Latn"]])
            correct += want is not None and all(
                want[lang] is not None and sents[lang].texts[want[lang]] == r[lang] for lang in langs
            )
        _emit(
            {
                **common,
                "threshold_kind": kind,
                "lang": "complete-groups",
                "n_groups": len(joined.rows),
                "n_complete": len(complete),
                **_prf(correct, len(complete), n),
            }
        )
    n_sent = sum(len(s.texts) for s in sents.values())
    _emit(
        {
            **common,
            "lang": "timing",
            "seconds": round(seconds, 1),
            "sentences": n_sent,
            "sentences_per_s": round(n_sent / seconds, 1),
            "peak_rss_mb": round(_peak_rss_mb()),
            "pivot_sentences": len(piv.texts),
            "pivot_distractor_ratio": round(ratio["eng_Latn"], 2),
            "timing_seconds": res.meta["timing_seconds"],
        }
    )


def _load(args):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        from polyalign.models.tiny import build_tiny_encoder

        return build_tiny_encoder(), "tiny"
    from polyalign.models import load_encoder

    return load_encoder(args.model), args.model


# ------------------------------------------------------------------------------------------------
# Speed


def _speed_child(
    n: int, backend: str, dim: int, seed: int, k: int, nprobe: int, lists_per_sqrt: float
) -> dict:
    """One N x N mining run in this process (the parent starts one process per size and backend)."""
    import numpy as np

    from polyalign.mine import score
    from polyalign.mine.embed import ShardedEmbeddings
    from polyalign.mine.score import mine_neighbours, neighbours

    score.IVF_LISTS_PER_SQRT = lists_per_sqrt

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(8, n // 200), dim)).astype(np.float32)

    real = os.environ.get("BENCH_MINE_REAL")
    if real:
        # Real sentence embeddings (float16 shards of a mining cache), pooled and split in two halves.
        pool = np.concatenate([np.load(p) for p in sorted(Path(real).rglob("shard-*.npy"))])
        pool = pool[rng.permutation(len(pool))]
        if 2 * n > len(pool):
            raise SystemExit(f"only {len(pool)} real embeddings: N = {n} needs {2 * n}")
        halves = iter([pool[:n], pool[n : 2 * n]])

    def sample(m):
        if real:
            return np.array_split(next(halves), max(1, m // 10_000))
        shards = []
        for s in range(0, m, 10_000):
            rows = min(10_000, m - s)
            x = centres[rng.integers(0, len(centres), rows)] + 0.7 * rng.normal(size=(rows, dim)).astype(
                np.float32
            )
            shards.append((x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16))
        return shards

    with tempfile.TemporaryDirectory() as tmp:
        sets = []
        for side in ("src", "tgt"):
            paths = []
            for i, arr in enumerate(sample(n)):
                p = Path(tmp) / f"{side}-{i}.npy"
                np.save(p, arr)
                paths.append(p)
            sets.append(ShardedEmbeddings([np.load(p, mmap_mode="r") for p in paths], paths))
        t0 = time.perf_counter()
        # ``nprobe`` is the search breadth: IVF probes, or HNSW's efSearch.
        nb = neighbours(sets[0], sets[1], k, backend=backend, nprobe=nprobe, ef_search=nprobe)
        pairs = mine_neighbours(nb, "max")
        seconds = time.perf_counter() - t0
        out = {
            "n": n,
            "backend": nb.backend,
            **({"nlist": score.ivf_lists(n), "nprobe": nprobe} if backend == "faiss-ivf" else {}),
            **({"M": score.HNSW_M, "ef_search": nprobe} if backend == "faiss-hnsw" else {}),
            "seconds": round(seconds, 2),
            "sentences_per_s": round(2 * n / seconds, 1),
            "peak_rss_mb": round(_peak_rss_mb()),
            "pairs": len(pairs),
            "loadavg": Path("/proc/loadavg").read_text().split()[0],
        }
        idx_path = os.environ.get("BENCH_MINE_IDX")
        if idx_path:
            np.save(idx_path, nb.fwd_idx.numpy())
        return out


def speed(args) -> None:
    import numpy as np

    from polyalign.mine.score import faiss_available

    backends = [b for b in args.backends.split(",") if b]
    if not faiss_available():
        backends = [b for b in backends if not b.startswith("faiss")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    for n in [int(s) for s in args.sizes.split(",") if s]:
        exact_idx = None
        runs = [
            (b, nprobe)
            for b in backends
            for nprobe in (
                [int(x) for x in str(args.nprobe if b == "faiss-ivf" else args.ef_search).split(",")]
                if b in ("faiss-ivf", "faiss-hnsw")
                else [0]
            )
        ]
        for backend, nprobe in runs:
            with tempfile.TemporaryDirectory() as tmp:
                idx_file = Path(tmp) / "idx.npy"
                call = (
                    f"_speed_child({n}, {backend!r}, {args.dim}, {args.seed}, {args.k}, {nprobe or 1}, "
                    f"{args.lists_per_sqrt})"
                )
                code = (
                    f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"import bench_mine as b; print(json.dumps(b.{call}))"
                )
                try:
                    proc = subprocess.run(
                        [sys.executable, "-c", code],
                        env={**env, "BENCH_MINE_IDX": str(idx_file), "BENCH_MINE_REAL": args.real or ""},
                        capture_output=True,
                        text=True,
                        timeout=args.timeout,
                    )
                except subprocess.TimeoutExpired:
                    _emit(
                        {
                            "bench": "mine-speed",
                            "n": n,
                            "backend": backend,
                            "error": f"timeout {args.timeout}s",
                        }
                    )
                    continue
                if proc.returncode != 0:
                    _emit(
                        {
                            "bench": "mine-speed",
                            "n": n,
                            "backend": backend,
                            "error": proc.stderr.strip().splitlines()[-1:],
                        }
                    )
                    continue
                row = {
                    "bench": "mine-speed",
                    "data": "real:" + args.real if args.real else "synthetic",
                    "dim": args.dim,
                    "threads": args.threads,
                    **json.loads(proc.stdout.strip().splitlines()[-1]),
                }
                idx = np.load(idx_file)
                if backend in ("torch", "faiss"):
                    exact_idx = idx
                elif exact_idx is not None:
                    row["knn_recall_vs_exact"] = round(
                        float(
                            np.mean(
                                [
                                    len(set(a) & set(b)) / len(a)
                                    for a, b in zip(exact_idx.tolist(), idx.tolist())
                                ]
                            )
                        ),
                        4,
                    )
                _emit(row)
    if args.encode_sample:
        from polyalign.eval.encode import Encoder

        model, name = _load(args)
        texts = _english_distractors(args.data_dir)[: args.encode_sample]
        enc = Encoder(model, batch_size=args.batch_size, use_cache=False, show_progress=False)
        t0 = time.perf_counter()
        enc.encode(texts)
        s = time.perf_counter() - t0
        _emit(
            {
                "bench": "mine-encode",
                "model": name,
                "sentences": len(texts),
                "seconds": round(s, 1),
                "sentences_per_s": round(len(texts) / s, 1),
                "threads": args.threads,
            }
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["recovery", "speed", "smoke"])
    p.add_argument("--model", default="me5-small-q4")
    p.add_argument("--tiny", action="store_true", help="the in-process tiny random encoder (plumbing only)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--langs", default="deu_Latn,swh_Latn,urd_Arab,tha_Thai")
    p.add_argument("--hidden", type=int, default=997)
    p.add_argument("--distractors", type=float, default=10.0, help="other sentences per hidden one")
    p.add_argument("--pivot-distractors", type=float, default=10.0)
    p.add_argument("--strategy", default="max")
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--max-length-ratio", type=float, default=3.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cache-dir", default=None, help="embedding shards (default: none, encode every run)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--sizes", default="10000,30000,100000")
    p.add_argument("--backends", default="torch,faiss,faiss-ivf")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--nprobe", default="32", help="IVF lists searched per query; a list sweeps them")
    p.add_argument("--ef-search", default="128", help="HNSW efSearch; a list sweeps them")
    p.add_argument(
        "--real",
        default=None,
        help="speed: a mining cache folder; its float16 shards (pooled, split in halves) replace the synthetic vectors",
    )
    p.add_argument("--lists-per-sqrt", type=float, default=4.0, help="IVF lists = this x sqrt(N)")
    p.add_argument("--timeout", type=int, default=7200, help="seconds per speed run")
    p.add_argument(
        "--encode-sample", type=int, default=0, help="speed: also time encoding this many sentences"
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.what == "smoke":
        args.langs, args.hidden, args.distractors, args.pivot_distractors = "deu_Latn,swh_Latn", 100, 5.0, 3.0
        recovery(args)
        args.sizes, args.encode_sample = "2000,5000", 0
        speed(args)
    elif args.what == "recovery":
        recovery(args)
    else:
        speed(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
