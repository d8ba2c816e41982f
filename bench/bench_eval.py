"""Wall time of an evaluation suite (default: ``quick`` with ``me5-small-q4``), cold and warm cache.

    python bench/bench_eval.py                          # quick suite, me5-small-q4
    python bench/bench_eval.py --model path/to/model --suite quick --warm
    python bench/bench_eval.py --tiny                   # the in-process tiny encoder (seconds)

The cold run uses an empty temporary embedding cache, so every sentence is encoded; ``--warm``
repeats the run on the filled cache (what a repeated evaluation costs). Prints a per-task table and
one JSON line (model, suite, seconds, sentences/s, load average) for logs. Goal on a 2-core CPU:
quick suite with me5-small-q4 in <= 180 s (cold). The load average is printed because other
processes on a shared machine slow encoding down; when another process keeps a core busy, torch's
two OpenMP threads stall each other and ``--threads 1`` was 3x faster here (95 s vs 291 s cold).

Against sentence-transformers: after the cold run, ``SentenceTransformer.encode()`` (one call, same
model object, batch size and threads) encodes exactly the texts polyalign sent through the model
(the unique ones, prompt and token limit applied by the same model); both sides get the same warm-up
first. ``ratio_vs_st`` = polyalign's encoding sentences/s / ST's (wall time); ``ratio_vs_st_cpu`` =
ST's CPU seconds / polyalign's, steadier when other jobs' load changes between the two runs.
``--backend onnx`` times ``polyalign eval --backend onnx``; ``--rows-out`` keeps the scores.

Measured 2026-12-01 on this 2-core CPU shared with other agents (loadavg 3-7, so wall times swing):
``flock /work/notes/cpu.lock python bench/bench_eval.py --threads 2`` (torch, before the ONNX
backend): 20.4 vs ST 19.7 sentences/s, ratio_vs_st 1.04 (8,772 sentences; loadavg 3.9 -> 6.4 -> 4.1).
``--threads 1 --backend onnx``: 44.3 vs 44.8, ratio 0.99 (loadavg 4.3 -> 5.1 -> 3.5); ``--threads 1``
(torch) right after: 54.1 vs 32.3, ratio 1.67 (loadavg 3.4 -> 3.3 -> 7.1) — the same code as ST's
path, so that 1.67 is the load changing, not speed. Interleaved on 300 FLORES sentences (1 thread):
ONNX 46.6 vs torch 28.4 sentences/s at batch 32 (1.64x), 54.3 vs 31.6 at batch 16 (1.72x).
Under a steady load (loadavg 9.7 -> 9.8 -> 10.4), ``--threads 1 --backend onnx``: 45.8 vs ST 26.8
sentences/s, ratio_vs_st 1.71, ratio_vs_st_cpu 2.02 (91 vs 184 CPU seconds) — the 1.5x goal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="me5-small-q4")
    p.add_argument("--tiny", action="store_true", help="use the tiny random encoder instead of --model")
    p.add_argument("--suite", default="quick")
    p.add_argument("--tasks", nargs="*", default=None, help="tasks instead of / in addition to the suite")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="polyalign's encoding backend"
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--warm", action="store_true", help="also time a second run on the filled cache")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument(
        "--max-sentences", type=int, default=None, help="truncate every set (dry runs; default: full sets)"
    )
    p.add_argument(
        "--json-out", default=None, help="also write the JSON line's record (with per-task seconds) here"
    )
    p.add_argument("--rows-out", default=None, help="write the cold run's result rows here (JSONL)")
    p.add_argument("--goal", type=float, default=180.0, help="seconds (default 180)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
    )

    import torch

    from polyalign.eval import evaluate
    from polyalign.eval.encode import Encoder

    class RecordingEncoder(Encoder):
        """Remembers every text sent through the model, in order (the unique, not-yet-memoised ones)."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.sent: list[str] = []
            self.requested = 0  # texts asked for by the tasks, before the memo's de-duplication
            # CPU seconds of this process: on a CPU shared with other jobs wall time swings with their
            # load, CPU time much less, so the CPU-time ratio is the steadier comparison.
            self.cpu_seconds = 0.0

        def encode(self, texts, key=None):
            self.requested += len(texts)
            return super().encode(texts, key)

        def _model_encode(self, texts):
            self.sent.extend(texts)
            t0 = time.process_time()
            try:
                return super()._model_encode(texts)
            finally:
                self.cpu_seconds += time.process_time() - t0

    if args.threads:
        torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    if args.tiny:
        from polyalign.models.tiny import build_tiny_encoder

        model, name = build_tiny_encoder(), "tiny"
        if args.device:
            model.to(args.device)
    else:
        from polyalign.models import load_encoder

        model, name = load_encoder(args.model, device=args.device), args.model
    load_s = time.perf_counter() - t0
    # Both sides get the same short warm-up (first-call allocations, lazy imports, kernel choice), so
    # neither the polyalign run nor sentence-transformers' encode() starts cold.
    # The ONNX graph is exported here (once per model and machine, then read from the cache).
    warmup = [f"warm-up sentence number {i} " * (1 + i % 7) for i in range(2 * args.batch_size)]
    model.encode(warmup, batch_size=args.batch_size, show_progress_bar=False)
    t0 = time.perf_counter()
    warm_enc = Encoder(
        model, batch_size=args.batch_size, use_cache=False, show_progress=False, backend=args.backend
    )
    warm_enc.encode(warmup)
    prepare_s = time.perf_counter() - t0
    load_before = os.getloadavg()[0]
    results = {}
    sent: list[str] = []
    requested, cpu_s = 0, 0.0
    with tempfile.TemporaryDirectory(prefix="polyalign-bench-cache-") as cache:
        runs = ["cold", "warm"] if args.warm else ["cold"]
        for run in runs:
            stats: dict = {}
            recorder = RecordingEncoder(
                model, batch_size=args.batch_size, cache_dir=cache, show_progress=False, backend=args.backend
            )
            recorder._onnx = warm_enc._onnx  # the warmed-up ONNX session (None for torch)
            rows = evaluate(
                recorder,
                suite=args.suite or None,
                tasks=args.tasks,
                data_dir=args.data_dir,
                model_name=name,
                batch_size=args.batch_size,
                cache_dir=cache,
                stats=stats,
                device=args.device,
                max_sentences=args.max_sentences,
            )
            results[run] = stats
            if run == "cold":
                sent, requested, cold_rows = list(recorder.sent), recorder.requested, rows
                cpu_s = recorder.cpu_seconds
    load_mid = os.getloadavg()[0]
    # sentence-transformers' own encode() of exactly the texts polyalign sent through the model: same
    # model object (same token limit, same default prompt), same batch size, same threads, one call
    # (so sentence-transformers sorts the whole list by length itself).
    t0, c0 = time.perf_counter(), time.process_time()
    st_emb = model.encode(sent, batch_size=args.batch_size, show_progress_bar=False, convert_to_numpy=True)
    st_s, st_cpu = time.perf_counter() - t0, time.process_time() - c0
    st_rate = len(sent) / st_s if st_s > 0 else float("nan")
    load_after = os.getloadavg()[0]
    if len(st_emb) != len(sent):
        raise SystemExit(f"sentence-transformers returned {len(st_emb)} embeddings for {len(sent)} texts")

    cold = results["cold"]
    if args.rows_out:
        with open(args.rows_out, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in cold_rows)
    ratio = cold["sentences_per_second"] / st_rate
    ratio_cpu = st_cpu / cpu_s if cpu_s > 0 else float("nan")  # same texts: CPU-seconds ratio
    suite_rate = cold["sentences_encoded"] / cold["seconds"]
    print(
        f"model {name}; suite {args.suite}; backend {args.backend}; model load {load_s:.1f} s; "
        f"backend warm-up {prepare_s:.1f} s; {len(rows)} result rows"
    )
    print(f"{'task':<16}{'seconds':>10}")
    for task, sec in cold["task_seconds"].items():
        print(f"{task:<16}{sec:>10.1f}")
    print(
        f"{'total (cold)':<16}{cold['seconds']:>10.1f}   {cold['sentences_encoded']} sentences, "
        f"{cold['sentences_per_second']:.1f} sentences/s while encoding"
    )
    print(
        f"{'ST encode()':<16}{st_s:>10.1f}   {len(sent)} sentences, {st_rate:.1f} sentences/s "
        f"(same texts, batch size, threads)"
    )
    print(
        f"ratio_vs_st {ratio:.2f}x (polyalign encoding sentences/s / ST's); whole suite "
        f"{suite_rate:.1f} sentences/s incl. scoring = {suite_rate / st_rate:.2f}x; CPU seconds of "
        f"encoding {cpu_s:.0f} vs ST's {st_cpu:.0f} = {ratio_cpu:.2f}x"
    )
    if "warm" in results:
        print(
            f"{'total (warm)':<16}{results['warm']['seconds']:>10.1f}   {results['warm']['cache_hits']} cache hits"
        )
    total = load_s + cold["seconds"]
    verdict = "OK" if total <= args.goal else "OVER"
    print(
        f"model load + cold run: {total:.1f} s (goal {args.goal:.0f} s: {verdict}); "
        f"load average {load_before:.1f} -> {load_mid:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    device = str(getattr(model, "device", args.device or "cpu"))
    record = {
        "bench": "eval",
        "model": name,
        "suite": args.suite,
        "backend": args.backend,
        "backend_warmup_seconds": round(prepare_s, 2),
        "load_seconds": round(load_s, 2),
        "cold_seconds": round(cold["seconds"], 2),
        "warm_seconds": round(results["warm"]["seconds"], 2) if "warm" in results else None,
        "sentences": cold["sentences_encoded"],
        "texts_requested": requested,
        "sentences_per_second": round(cold["sentences_per_second"], 1),
        "suite_sentences_per_second": round(suite_rate, 1),
        "st_seconds": round(st_s, 2),
        "st_sentences_per_second": round(st_rate, 1),
        "ratio_vs_st": round(ratio, 3),
        "suite_ratio_vs_st": round(suite_rate / st_rate, 3),
        "encode_cpu_seconds": round(cpu_s, 2),
        "st_cpu_seconds": round(st_cpu, 2),
        "ratio_vs_st_cpu": round(ratio_cpu, 3),
        "batch_size": args.batch_size,
        "loadavg": [round(load_before, 2), round(load_mid, 2), round(load_after, 2)],
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU",
        "torch": torch.__version__,
        "max_sentences": args.max_sentences,
    }
    print(json.dumps(record))
    if args.json_out:
        record.update(
            command=" ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
            task_seconds=cold["task_seconds"],
            rows=rows,
        )
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
