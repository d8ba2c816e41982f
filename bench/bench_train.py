"""Training-speed benchmark: polyalign's ``Trainer`` vs sentence-transformers' ``SentenceTransformerTrainer``.

Both frameworks train the *same saved model* (one folder, loaded by each) on the *same number of
sequences per step*, in the same run on the same machine; every (data mode, framework) cell runs in
its own subprocess so peak memory (``ru_maxrss`` on CPU) is per framework::

    python bench/bench_train.py                                   # tiny model, CPU-friendly (< 5 min)
    python bench/bench_train.py --model tiny --groups 16 --steps 10 --modes fixed,real
    python bench/bench_train.py --model xlmr-base-shape --groups 128 --steps 20      # GPU
    python bench/bench_train.py --model xlmr-base-shape --groups 1366 --grad-cache \\
        --frameworks st-cached,polyalign-gc --modes fixed                                # 8,192 seq/step

What is compared
----------------
* ``st``: ``SentenceTransformerTrainer`` + ``MultipleNegativesRankingLoss`` (scale 20 = τ 0.05) on
  (anchor, positive) pairs. The pairs are the corpus' ``pairs`` view (MPCL's parallel structure: each
  6-language group → 3 disjoint random language pairs, every sentence once), so a step of G groups is
  ``per_device_train_batch_size = 3G`` pairs = 6G sequences. ST's own defaults otherwise (random batch
  sampler, its default AdamW implementation — ``adamw_torch_fused`` with torch ≥ 2.8 — unless
  ``--st-optim``), weight decay 0.01, linear schedule with 10 % warm-up, grad-norm clip 1.0, fp32 on
  CPU / bf16 autocast on GPU, ``dataloader_drop_last=True``, no eval, no saving, ``report_to="none"``.
* ``polyalign``: ``Trainer(TrainConfig(loss="multi", batch_groups=G, ...))`` — the multi-positive loss
  on whole groups (6G sequences per step), length-bucketed batches, pre-tokenised texts, chunked
  forward (``chunk_size``), ``torch.optim.AdamW``. Steps are driven directly:
  ``trainer.step(step, trainer.batcher.local_batch(batch))`` — exactly what ``Trainer.run`` does per
  step, minus its logging/checkpoint bookkeeping.
* ``st-cached`` / ``polyalign-gc`` (``--grad-cache``): ST's ``CachedMultipleNegativesRankingLoss``
  (``mini_batch_size = --chunk-size``) and polyalign's GradCache (``grad_cache=True``), for peak memory
  at large batches.

Data modes
----------
* ``fixed``: synthetic random-word sentences that tokenise to *exactly* ``--max-seq-length`` tokens
  (specials included) with the model's own tokenizer — no padding in either framework.
* ``real``: XNLI dev+test (``$POLYALIGN_DATA_DIR`` or ``../shared/data``), groups complete in the six
  languages en, de, fr, es, ru, zh; skipped with a message when the data folder is missing.

Timing
------
Each framework runs ``--warmup`` + ``--steps`` optimizer steps. A timestamp (``perf_counter``, after a
``torch.cuda.synchronize()`` on GPU) is taken at the end of every step — ST: a ``TrainerCallback``'s
``on_step_end``; polyalign: after ``trainer.step`` returns. The duration of a step is the gap between
consecutive step ends, so it includes data loading/collation/tokenisation, forward, backward, gradient
clipping, the optimizer and scheduler. The first ``--warmup`` steps are discarded; **s/step is the
median** over the ``--steps`` measured steps; **seq/s = sequences per step / median s/step**; tokens/s
is the real (non-pad) tokens of the measured steps over their summed time; "pad %" is the share of
padded positions in the tensors fed to the encoder. Setup (model load, tokenisation of the corpus by
polyalign's ``TokenTable``, batch plans) is not timed.

Memory
------
CPU: ``ru_maxrss`` of the framework's own subprocess (peak resident set over the whole process:
imports, model, data, training) and the resident set just before the first step. GPU:
``torch.cuda.max_memory_allocated`` over the training steps (stats reset after setup).

MFU (GPU only)
--------------
Model FLOPs per real token (forward + backward, Kaplan et al. 2020 / PaLM appendix B)::

    flops_per_token = 6 · N + 12 · L · d · S

N = non-embedding parameters (everything but ``embeddings.*`` and the unused ``pooler.*``), L layers,
d hidden size, S the mean real sequence length (the attention-score and attention-value matmuls).
``MFU = tokens_per_s · flops_per_token / peak``, peak = dense bf16 tensor-core peak: 989 TFLOP/s for
H100/H200 SXM (``--peak-tflops`` to override; A100: 312). Padding and recomputation (GradCache runs
the forward twice) are *not* counted as useful FLOPs, so GradCache's MFU is ≤ 3/4 of the plain one's.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAMEWORKS = ("st", "polyalign", "st-cached", "polyalign-gc")
BASELINE = {"polyalign": "st", "polyalign-gc": "st-cached", "st-cached": "st"}
MODES = ("fixed", "real")
LANGS = ("en", "de", "fr", "es", "ru", "zh")
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "A800": 312.0, "L40S": 362.0}
RESULT_TAG = "BENCH_RESULT "
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- small helpers


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _device(name: str | None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _rss_gib() -> float:
    """Current resident set size (Linux /proc), GiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _default_data_dir() -> Path:
    env = os.environ.get("POLYALIGN_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def _machine_info(device: str) -> dict:
    import sentence_transformers
    import torch
    import transformers

    cpu_model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU ({cpu_model})",
    }
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        info["polyalign"] = version("polyalign")
    return info


# ----------------------------------------------------------------------------- model and data


def prepare_model(spec: str, out: Path, max_seq_length: int) -> Path:
    """Save the benchmark model (sentence-transformers format) to ``out``; both frameworks load it."""
    if spec == "tiny":
        from polyalign.models.tiny import build_tiny_encoder

        model = build_tiny_encoder(
            out.parent / "tiny-build",
            hidden=128,
            layers=2,
            heads=2,
            intermediate=512,
            max_seq_length=max_seq_length,
        )
    elif spec == "xlmr-base-shape":
        from transformers import XLMRobertaConfig

        from polyalign.models.tiny import build_model_of_shape

        # XLM-R base: the XLMRobertaConfig defaults (768 hidden, 12 layers, 12 heads, 3072 FFN) with
        # XLM-R's real vocabulary/positions so the embedding (and its optimizer state) has the real size;
        # the byte-level tokenizer only uses the first 261 ids. Pad id 0 = the byte tokenizer's [PAD].
        config = XLMRobertaConfig(
            vocab_size=250_002,
            max_position_embeddings=514,
            type_vocab_size=1,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
        )
        model = build_model_of_shape(config, max_seq_length=max_seq_length)
    else:
        from polyalign.models import load_encoder

        model = load_encoder(spec, max_seq_length=max_seq_length)
    model.max_seq_length = max_seq_length
    model.save(str(out))
    return out


def model_shape(model) -> dict:
    """Parameter counts and transformer shape for the FLOP estimate."""
    hf = model[0].auto_model
    cfg = hf.config
    total = emb = pooler = 0
    for name, p in hf.named_parameters():
        total += p.numel()
        if "embeddings." in name:
            emb += p.numel()
        elif name.startswith("pooler."):
            pooler += p.numel()
    return {
        "class": type(hf).__name__,
        "params": total,
        "params_embedding": emb,
        "params_non_embedding": total - emb - pooler,
        "layers": getattr(cfg, "num_hidden_layers", None),
        "hidden": getattr(cfg, "hidden_size", None),
        "heads": getattr(cfg, "num_attention_heads", None),
        "intermediate": getattr(cfg, "intermediate_size", None),
        "vocab": getattr(cfg, "vocab_size", None),
    }


_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz"


def fixed_length_texts(tokenizer, n: int, target: int, rng: random.Random) -> list[str]:
    """``n`` distinct random-word strings that tokenise to exactly ``target`` tokens (specials included)."""
    specials = len(tokenizer("", add_special_tokens=True)["input_ids"]) - len(
        tokenizer("", add_special_tokens=False)["input_ids"]
    )
    body = target - specials
    if body < 1:
        raise SystemExit(f"--max-seq-length {target} leaves no room next to {specials} special tokens")
    out: list[str] = []
    seen: set[str] = set()
    chars = 4 * body + 16
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise SystemExit("could not build fixed-length sentences with this tokenizer")
        need = min(n - len(out), 4096)
        cands = []
        for _ in range(need):
            words, size = [], 0
            while size < chars:
                w = "".join(rng.choice(_WORD_CHARS) for _ in range(rng.randint(2, 9)))
                words.append(w)
                size += len(w) + 1
            cands.append(" ".join(words).capitalize())
        enc = tokenizer(cands, add_special_tokens=False, return_offsets_mapping=True)
        prefixes = []
        for text, offsets in zip(cands, enc["offset_mapping"]):
            if len(offsets) < body:
                chars *= 2
                continue
            prefixes.append(text[: offsets[body - 1][1]].rstrip())
        if not prefixes:
            continue
        lengths = [len(x) for x in tokenizer(prefixes, add_special_tokens=True)["input_ids"]]
        for text, length in zip(prefixes, lengths):
            if length == target and text not in seen:
                seen.add(text)
                out.append(text)
    return out[:n]


def prepare_corpus(mode: str, out: Path, tokenizer, args) -> dict:
    """Write a polyalign corpus folder (groups + pairs views) for ``mode``; returns its description."""
    from polyalign.data.build import make_views, save_corpus
    from polyalign.data.groups import GROUP_ID, groups_from_aligned

    langs = list(LANGS)
    if mode == "fixed":
        n_groups = args.groups * (args.warmup + args.steps)
        rng = random.Random(args.seed)
        texts = fixed_length_texts(tokenizer, n_groups * len(langs), args.max_seq_length, rng)
        aligned = {lang: texts[i * n_groups : (i + 1) * n_groups] for i, lang in enumerate(langs)}
        groups = groups_from_aligned(aligned, prefix="synth")
        source = f"synthetic: random words, exactly {args.max_seq_length} tokens each"
    else:
        from polyalign.data.build import build_corpus

        corpus, _ = build_corpus("xnli", data_dir=args.data_dir, langs=langs)
        groups = corpus["groups"].filter(lambda row: all(row[lang] for lang in langs))
        groups = groups.select_columns([GROUP_ID, *langs])
        source = "XNLI dev+test (xtreme_format), groups complete in " + ",".join(langs)
    corpus = make_views(groups, pivot="en", seed=args.seed)
    save_corpus(corpus, out, {"source": source}, overwrite=True)  # our own scratch folder
    lengths = [
        len(x)
        for x in tokenizer(
            [t for lang in langs for t in groups[lang]], truncation=True, max_length=args.max_seq_length
        )["input_ids"]
    ]
    return {
        "source": source,
        "groups": len(groups),
        "pairs": len(corpus["pairs"]),
        "mean_tokens": statistics.fmean(lengths),
        "max_tokens": max(lengths),
    }


# ----------------------------------------------------------------------------- the two workers


def _raw(
    durations: list[float],
    cpu: list[float],
    real: list[int],
    padded: list[int],
    seqs_per_step: int,
    args,
    device: str,
) -> dict:
    """Per-step measurements of one worker run (warm-up steps split off) plus its peak memory."""
    w = args.warmup
    res = {
        "seqs_per_step": seqs_per_step,
        "warmup_s": durations[:w],
        "step_s": durations[w:],
        "step_cpu_s": cpu[w:],
        "step_real_tokens": real[w:],
        "step_padded_tokens": padded[w:],
        "peak_rss_gib": _peak_rss_gib(),
    }
    if device.startswith("cuda"):
        import torch

        res["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return res


def summarise(runs: list[dict]) -> dict:
    """Pool the measured steps of one framework's (repeated) runs into the reported metrics."""
    d = [x for r in runs for x in r["step_s"]]
    c = [x for r in runs for x in r["step_cpu_s"]]
    real = [x for r in runs for x in r["step_real_tokens"]]
    padded = [x for r in runs for x in r["step_padded_tokens"]]
    seqs = runs[0]["seqs_per_step"]
    median = statistics.median(d)
    out = {k: v for k, v in runs[0].items() if not k.startswith("step_") and k != "warmup_s"}
    out.update(
        repeats=len(runs),
        measured_steps=len(d),
        s_per_step=median,
        s_per_step_mean=statistics.fmean(d),
        s_per_step_min=min(d),
        s_per_step_max=max(d),
        s_per_step_repeat_medians=[statistics.median(r["step_s"]) for r in runs],
        cpu_s_per_step=statistics.median(c),
        seq_per_s=seqs / median,
        tokens_per_s=sum(real) / sum(d),
        mean_tokens_per_seq=sum(real) / (seqs * len(real)),
        pad_fraction=1 - sum(real) / sum(padded) if sum(padded) else float("nan"),
        peak_rss_gib=max(r["peak_rss_gib"] for r in runs),
        rss_before_train_gib=max(r["rss_before_train_gib"] for r in runs),
        loadavg_1min=[r["loadavg_1min"] for r in runs],
        warmup_s=[r["warmup_s"] for r in runs],
        process_wall_s=[r["process_wall_s"] for r in runs],
    )
    if "peak_gpu_gib" in runs[0]:
        out["peak_gpu_gib"] = max(r["peak_gpu_gib"] for r in runs)
    return out


def run_polyalign(args, grad_cache: bool) -> dict:
    import torch

    from polyalign.train.config import TrainConfig
    from polyalign.train.encoding import chunks_by_length
    from polyalign.train.trainer import Trainer

    device = _device(args.device)
    out = Path(tempfile.mkdtemp(prefix="bench-polyalign-"))
    total = args.warmup + args.steps
    cfg = TrainConfig(
        model=args.model_dir,
        data=args.corpus_dir,
        out=str(out),
        loss="multi",
        batch_groups=args.groups,
        max_seq_length=args.max_seq_length,
        lr=args.lr,
        steps=total,
        save_every=10**9,
        log_every=1,
        grad_cache=grad_cache,
        chunk_size=args.chunk_size,
        device=device,
        seed=args.seed,
        freeze_embeddings=args.freeze_embeddings,
    )
    cfg.validate()
    trainer = Trainer(cfg)
    # The batch plan of every step (Trainer.run builds an epoch's plan lazily at its first step).
    plan, epoch = [], 0
    while len(plan) < total:
        plan.extend(trainer.batcher.epoch(epoch))
        epoch += 1
    plan = plan[:total]
    lengths = trainer.tokens.lengths
    _sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_gib()
    durations, cpu, real, padded, losses = [], [], [], [], []
    seqs_per_step = None
    t_prev, c_prev = time.perf_counter(), time.process_time()
    for step, global_batch in enumerate(plan):
        batch = trainer.batcher.local_batch(global_batch)
        losses.append(trainer.step(step, batch))
        _sync(device)
        now, c_now = time.perf_counter(), time.process_time()
        durations.append(now - t_prev)
        cpu.append(c_now - c_prev)
        t_prev, c_prev = now, c_now
        ids = batch.texts + batch.hard_texts
        seqs_per_step = len(ids)
        real.append(sum(lengths[t] for t in ids))
        padded.append(
            sum(
                len(c) * max(lengths[ids[i]] for i in c)
                for c in chunks_by_length(trainer.tokens, ids, cfg.chunk_size)
            )
        )
    res = _raw(durations, cpu, real, padded, seqs_per_step, args, device)
    res.update(
        rss_before_train_gib=rss_before,
        final_loss=losses[-1],
        shape=model_shape(trainer.model),
        trainable_params=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        optimizer="torch.optim.AdamW" + (" (fused)" if trainer.optimizer.defaults.get("fused") else ""),
        batch_groups=args.groups,
        chunk_size=cfg.chunk_size,
        grad_cache=grad_cache,
    )
    shutil.rmtree(out, ignore_errors=True)
    return res


def freeze_word_embeddings(model) -> int:
    """Freeze what polyalign's ``freeze_embeddings`` freezes (every ``word_embeddings`` weight); the count."""
    frozen = 0
    for name, p in model.named_parameters():
        if "word_embeddings" in name:
            p.requires_grad_(False)
            frozen += p.numel()
    if not frozen:
        raise SystemExit("--freeze-embeddings: the model has no word_embeddings parameter")
    return frozen


class _CountingCollator:
    """Wraps ST's data collator to record real vs padded tokens of every batch it builds."""

    def __init__(self, inner):
        self.inner = inner
        self.real: list[int] = []
        self.padded: list[int] = []

    def __call__(self, features):
        batch = self.inner(features)
        masks = [v for k, v in batch.items() if k.endswith("attention_mask")]
        self.real.append(int(sum(int(m.sum()) for m in masks)))
        self.padded.append(int(sum(m.numel() for m in masks)))
        return batch

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run_st(args, cached: bool) -> dict:
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses
    from transformers import TrainerCallback

    from polyalign.data.build import load_corpus

    device = _device(args.device)
    total = args.warmup + args.steps
    torch.manual_seed(args.seed)
    model = SentenceTransformer(args.model_dir, device=device)
    model.max_seq_length = args.max_seq_length
    if args.freeze_embeddings:
        freeze_word_embeddings(model)
    corpus = load_corpus(args.corpus_dir)
    groups = corpus["groups"]
    pairs = (
        corpus["pairs"]
        .select_columns(["text_a", "text_b"])
        .rename_columns({"text_a": "anchor", "text_b": "positive"})
    )
    mean_size = len(pairs) * 2 / len(groups)  # = 6 for complete 6-language groups
    batch_pairs = max(1, round(args.groups * mean_size / 2))
    if cached:
        loss = losses.CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=args.chunk_size)
    else:
        loss = losses.MultipleNegativesRankingLoss(model, scale=20.0)

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.start = None
            self.ends: list[float] = []
            self.cpu: list[float] = []
            self.rss_before = None

        def on_train_begin(self, *a, **k):
            _sync(device)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            self.rss_before = _rss_gib()
            self.start = time.perf_counter()
            self.cpu_start = time.process_time()

        def on_step_end(self, *a, **k):
            _sync(device)
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())

    out = Path(tempfile.mkdtemp(prefix="bench-st-"))
    kwargs = {}
    if args.st_optim:
        kwargs["optim"] = args.st_optim
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch_pairs,
        learning_rate=args.lr,
        weight_decay=0.01,
        warmup_ratio=0.1,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        max_steps=total,
        bf16=device.startswith("cuda"),
        use_cpu=device == "cpu",
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to="none",
        dataloader_drop_last=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=args.seed,
        **kwargs,
    )
    timer = StepTimer()
    trainer = SentenceTransformerTrainer(
        model=model, args=targs, train_dataset=pairs, loss=loss, callbacks=[timer]
    )
    counter = _CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    result = trainer.train()
    stamps = [timer.start, *timer.ends]
    durations = [b - a for a, b in zip(stamps, stamps[1:])]
    cpu_stamps = [timer.cpu_start, *timer.cpu]
    cpu = [b - a for a, b in zip(cpu_stamps, cpu_stamps[1:])]
    if len(durations) != total:
        raise RuntimeError(f"ST ran {len(durations)} steps, expected {total}")
    # The dataloader may collate one batch ahead; batch i is the i-th collated one.
    res = _raw(durations, cpu, counter.real[:total], counter.padded[:total], 2 * batch_pairs, args, device)
    res.update(
        rss_before_train_gib=timer.rss_before,
        final_loss=result.training_loss,
        shape=model_shape(model),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        optimizer=str(targs.optim),
        batch_pairs=batch_pairs,
        loss=type(loss).__name__,
        chunk_size=args.chunk_size if cached else None,
    )
    shutil.rmtree(out, ignore_errors=True)
    return res


def worker(args) -> None:
    import torch

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.only in ("polyalign", "polyalign-gc"):
        res = run_polyalign(args, grad_cache=args.only == "polyalign-gc")
    else:
        res = run_st(args, cached=args.only == "st-cached")
    res.update(framework=args.only, mode=args.mode, torch_threads=torch.get_num_threads())
    print(RESULT_TAG + json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- orchestration


def _peak_tflops(args, device_name: str) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    for key, value in PEAK_TFLOPS.items():
        if key in device_name:
            return value
    return None


def _add_mfu(res: dict, peak: float | None) -> None:
    shape = res["shape"]
    s = res["mean_tokens_per_seq"]
    per_token = 6 * shape["params_non_embedding"] + 12 * shape["layers"] * shape["hidden"] * s
    res["flops_per_token"] = per_token
    res["model_tflops"] = res["tokens_per_s"] * per_token / 1e12
    res["mfu"] = res["model_tflops"] / peak if peak else None


def _spawn(fw: str, mode: str, model_dir: Path, corpus_dir: Path, args) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        fw,
        "--mode",
        mode,
        "--model-dir",
        str(model_dir),
        "--corpus-dir",
        str(corpus_dir),
        "--groups",
        str(args.groups),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--max-seq-length",
        str(args.max_seq_length),
        "--chunk-size",
        str(args.chunk_size),
        "--lr",
        str(args.lr),
        "--seed",
        str(args.seed),
    ]
    if args.device:
        cmd += ["--device", args.device]
    if args.st_optim:
        cmd += ["--st-optim", args.st_optim]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.freeze_embeddings:
        cmd.append("--freeze-embeddings")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load = os.getloadavg()[0]
    if args.verbose:
        sys.stderr.write(proc.stderr)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG) :])
            res.update(process_wall_s=wall, loadavg_1min=load)
            med = statistics.median(res["step_s"])
            _log(
                f"{mode:5s} {fw:12s} {med:.4f} s/step, {res['seqs_per_step'] / med:.1f} seq/s "
                f"(process {wall:.0f} s, load {load:.1f})"
            )
            return res
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    _log(f"{mode:5s} {fw:12s} FAILED (exit {proc.returncode}):\n{tail}")
    return {
        "framework": fw,
        "mode": mode,
        "error": tail.splitlines()[-1] if tail else f"exit {proc.returncode}",
        "returncode": proc.returncode,
        "process_wall_s": wall,
    }


def _fmt(x, spec: str, missing: str = "–") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return missing
    return format(x, spec)


def markdown(report: dict) -> str:
    gpu = report["machine"]["device"].startswith("cuda")
    mem_head = "peak GPU mem (GiB)" if gpu else "peak RSS (GiB)"
    lines = [
        f"# polyalign vs sentence-transformers: training speed ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
        f"- machine: {report['machine']['device_name']}; {report['machine']['cpu_usable']} usable CPU cores "
        f"(of {report['machine']['cpu_count']}); torch {report['machine']['torch']} "
        f"({report['config']['threads'] or report['machine']['torch_threads']} threads); sentence-transformers "
        f"{report['machine']['sentence_transformers']}; transformers {report['machine']['transformers']}",
        f"- model: {report['model']['spec']} ({report['model']['class']}, {report['model']['layers']} layers, "
        f"hidden {report['model']['hidden']}, {report['model']['params'] / 1e6:.2f} M params, "
        f"{report['model']['params_non_embedding'] / 1e6:.2f} M non-embedding); max_seq_length "
        f"{report['config']['max_seq_length']}; {report['config']['groups']} groups × 6 languages = "
        f"{report['config']['groups'] * 6} sequences/step; {report['config']['warmup']} warm-up + "
        f"{report['config']['steps']} measured steps per run, {report['config']['repeats']} run(s) per framework "
        f"(interleaved, each in its own process); lr {report['config']['lr']}",
        "- s/step: median wall time over the measured steps (cpu s: median process CPU time per step, all "
        "threads); ratio = framework seq/s ÷ baseline seq/s (polyalign vs st, polyalign-gc vs st-cached); memory: "
        + (
            "torch.cuda.max_memory_allocated"
            if gpu
            else "ru_maxrss of the framework's own process (RSS before the first step in brackets)"
        ),
    ]
    for mode, info in report["data"].items():
        if "skipped" in info:
            lines.append(f"- data `{mode}`: skipped — {info['skipped']}")
        else:
            lines.append(
                f"- data `{mode}`: {info['source']}; {info['groups']} groups; mean "
                f"{info['mean_tokens']:.1f} tokens/sentence"
            )
    cores = report["machine"]["cpu_usable"] or 1
    loads = [x for r in report["results"] for x in r.get("loadavg_1min", [])]
    if loads and max(loads) > cores + 0.5:
        lines.append(
            f"- **warning**: 1-min load average reached {max(loads):.1f} on {cores} cores during the runs — "
            "other processes competed for the CPU; wall times are noisy (compare with --repeats > 1)"
        )
    lines += [
        "",
        f"| mode | framework | seq/step | s/step | cpu s | seq/s | tokens/s | ratio | pad % | {mem_head} "
        "| MFU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if "error" in r:
            lines.append(
                f"| {r['mode']} | {r['framework']} | – | – | – | – | – | – | – | – | failed: {r['error'][:80]} |"
            )
            continue
        if gpu:
            mem = _fmt(r.get("peak_gpu_gib"), ".2f")
        else:
            mem = f"{r['peak_rss_gib']:.2f} ({_fmt(r.get('rss_before_train_gib'), '.2f')})"
        mfu = _fmt(r.get("mfu"), ".1%") if gpu else "n/a (CPU)"
        lines.append(
            f"| {r['mode']} | {r['framework']} | {r['seqs_per_step']} | {r['s_per_step']:.4f} | "
            f"{r['cpu_s_per_step']:.3f} | {r['seq_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
            f"{_fmt(r.get('ratio'), '.2f')}{'×' if r.get('ratio') else ''} | "
            f"{100 * r['pad_fraction']:.1f} | {mem} | {mfu} |"
        )
    return "\n".join(lines) + "\n"


def orchestrate(args) -> dict:

    from polyalign.data.build import load_corpus  # noqa: F401  (fail early if polyalign is missing)

    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if args.grad_cache:
        frameworks += [f for f in ("st-cached", "polyalign-gc") if f not in frameworks]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for name, allowed, given in (("framework", FRAMEWORKS, frameworks), ("mode", MODES, modes)):
        bad = [g for g in given if g not in allowed]
        if bad:
            raise SystemExit(f"unknown {name}(s) {bad}; choose from {', '.join(allowed)}")
    device = _device(args.device)
    machine = _machine_info(device)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="polyalign-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    try:
        _log(f"building model {args.model!r} in {work}")
        model_dir = prepare_model(args.model, work / "model", args.max_seq_length)
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(model_dir), device="cpu")
        shape = model_shape(model)
        tokenizer = model.tokenizer
        del model
        data, results = {}, []
        for mode in modes:
            if mode == "real" and not (Path(args.data_dir) / "xnli" / "xtreme_format").is_dir():
                msg = f"XNLI not found under {args.data_dir}/xnli/xtreme_format (set --data-dir or $POLYALIGN_DATA_DIR)"
                print(f"skipping mode 'real': {msg}", file=sys.stderr)
                data[mode] = {"skipped": msg}
                continue
            _log(f"building the {mode!r} corpus")
            data[mode] = prepare_corpus(mode, work / f"corpus-{mode}", tokenizer, args)
            runs: dict[str, list[dict]] = {fw: [] for fw in frameworks}
            failed: dict[str, dict] = {}
            for rep in range(args.repeats):  # interleaved, so background load hits every framework alike
                for fw in frameworks:
                    if fw in failed:
                        continue
                    _log(f"{mode:5s} {fw:12s} run {rep + 1}/{args.repeats} …")
                    res = _spawn(fw, mode, model_dir, work / f"corpus-{mode}", args)
                    if "error" in res:
                        failed[fw] = res
                    else:
                        runs[fw].append(res)
            results.extend(failed[fw] if fw in failed else summarise(runs[fw]) for fw in frameworks)
    finally:
        if not args.keep_workdir and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    peak = _peak_tflops(args, machine["device_name"]) if device.startswith("cuda") else None
    by_key = {(r["mode"], r["framework"]): r for r in results}
    for r in results:
        if "error" in r:
            continue
        _add_mfu(r, peak)
        base = by_key.get((r["mode"], BASELINE.get(r["framework"], "")))
        if base is not None and "error" not in base:
            r["ratio"] = r["seq_per_s"] / base["seq_per_s"]
            r["ratio_vs"] = base["framework"]
    return {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {
            k: getattr(args, k)
            for k in (
                "model",
                "groups",
                "steps",
                "warmup",
                "repeats",
                "threads",
                "max_seq_length",
                "chunk_size",
                "lr",
                "seed",
                "modes",
                "st_optim",
                "freeze_embeddings",
            )
        }
        | {"frameworks": frameworks, "peak_tflops": peak},
        "model": {"spec": args.model, **shape},
        "data": data,
        "results": results,
        "total_wall_s": time.perf_counter() - t_start,
        "mfu_formula": "tokens_per_s * (6 * params_non_embedding + 12 * layers * hidden * mean_tokens_per_seq) "
        "/ peak_dense_bf16_flops",
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--model",
        default="tiny",
        help="tiny (random 2-layer, 128-dim BERT, byte tokenizer), xlmr-base-shape (random XLM-R base "
        "shape, byte tokenizer; for GPU) or a model folder / hub id",
    )
    p.add_argument("--groups", type=int, default=16, help="groups per step (6 languages → 6·G sequences)")
    p.add_argument("--steps", type=int, default=10, help="measured optimizer steps")
    p.add_argument("--warmup", type=int, default=2, help="warm-up steps run first and not measured")
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every framework this many times, interleaved; measured steps are pooled",
    )
    p.add_argument("--modes", default="fixed,real", help="comma list of: fixed, real")
    p.add_argument("--frameworks", default="st,polyalign", help=f"comma list of: {', '.join(FRAMEWORKS)}")
    p.add_argument(
        "--grad-cache",
        action="store_true",
        help="also run polyalign-gc (GradCache) and st-cached (CachedMultipleNegativesRankingLoss)",
    )
    p.add_argument("--max-seq-length", type=int, default=64)
    p.add_argument(
        "--chunk-size", type=int, default=128, help="polyalign chunk_size; ST CachedMNRL mini_batch_size"
    )
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads in the workers (default: torch's, = usable cores)",
    )
    p.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="freeze the token embedding matrix in both frameworks (TrainConfig.freeze_embeddings)",
    )
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument(
        "--st-optim",
        default=None,
        help="ST optimizer name (default: transformers' default, adamw_torch_fused with torch ≥ 2.8)",
    )
    p.add_argument("--peak-tflops", type=float, default=None, help="peak dense bf16 TFLOP/s for MFU")
    p.add_argument(
        "--data-dir", default=str(_default_data_dir()), help="data folder holding xnli/xtreme_format"
    )
    p.add_argument("--json-out", default=None, help="also write the full report as JSON here")
    p.add_argument("--workdir", default=None, help="keep the model and corpora here (default: a temp dir)")
    p.add_argument("--keep-workdir", action="store_true", help="do not delete the temporary work dir")
    p.add_argument("--verbose", action="store_true", help="pass the workers' stderr through")
    # worker mode (the script re-invokes itself once per framework and mode)
    p.add_argument("--only", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--corpus-dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.groups < 1 or args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        p.error("--groups, --steps and --repeats must be ≥ 1, --warmup ≥ 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.only:
        worker(args)
        return 0
    report = orchestrate(args)
    text = markdown(report)
    print(text)
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        _log(f"wrote {args.json_out}")
    return 1 if any("error" in r for r in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
