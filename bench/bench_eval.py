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
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--warm", action="store_true", help="also time a second run on the filled cache")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument(
        "--max-sentences", type=int, default=None, help="truncate every set (dry runs; default: full sets)"
    )
    p.add_argument(
        "--json-out", default=None, help="also write the JSON line's record (with per-task seconds) here"
    )
    p.add_argument("--goal", type=float, default=180.0, help="seconds (default 180)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
    )

    import torch

    from polyalign.eval import evaluate

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
    load_before = os.getloadavg()[0]
    results = {}
    with tempfile.TemporaryDirectory(prefix="polyalign-bench-cache-") as cache:
        runs = ["cold", "warm"] if args.warm else ["cold"]
        for run in runs:
            stats: dict = {}
            rows = evaluate(
                model,
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
    load_after = os.getloadavg()[0]

    cold = results["cold"]
    print(f"model {name}; suite {args.suite}; model load {load_s:.1f} s; {len(rows)} result rows")
    print(f"{'task':<16}{'seconds':>10}")
    for task, sec in cold["task_seconds"].items():
        print(f"{task:<16}{sec:>10.1f}")
    print(
        f"{'total (cold)':<16}{cold['seconds']:>10.1f}   {cold['sentences_encoded']} sentences, "
        f"{cold['sentences_per_second']:.1f} sentences/s while encoding"
    )
    if "warm" in results:
        print(
            f"{'total (warm)':<16}{results['warm']['seconds']:>10.1f}   {results['warm']['cache_hits']} cache hits"
        )
    total = load_s + cold["seconds"]
    verdict = "OK" if total <= args.goal else "OVER"
    print(
        f"model load + cold run: {total:.1f} s (goal {args.goal:.0f} s: {verdict}); "
        f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    device = str(getattr(model, "device", args.device or "cpu"))
    record = {
        "bench": "eval",
        "model": name,
        "suite": args.suite,
        "load_seconds": round(load_s, 2),
        "cold_seconds": round(cold["seconds"], 2),
        "warm_seconds": round(results["warm"]["seconds"], 2) if "warm" in results else None,
        "sentences": cold["sentences_encoded"],
        "sentences_per_second": round(cold["sentences_per_second"], 1),
        "loadavg": [round(load_before, 2), round(load_after, 2)],
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
