"""The training loop: multi-way batches → loss → AdamW, with warm-up, GradCache, DDP, checkpoints.

Python API::

    from polyalign.train import TrainConfig, train
    result = train(TrainConfig(model="me5-small-q4", data="data/xnli6", loss="multi", steps=100, out="runs/m"))

Multi-GPU: launch the same command with ``torchrun --nproc_per_node N -m polyalign.cli train …``
(or ``accelerate launch``); each rank encodes its slice of the global batch, embeddings are gathered
so negatives span all ranks, and DDP averages the gradients.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import random
import resource
import shutil
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import torch
import torch.distributed as dist

from ..config import dump_yaml
from ..console import show_progress
from ..data.build import load_corpus
from ..data.groups import GROUP_ID, group_languages
from ..data.readers import resolve_code
from ..errors import ConfigError, DataError, PolyalignError, UnknownLanguageError
from ..io import append_jsonl, atomic_path, prepare_output, write_text_atomic
from ..losses import NonFiniteInputError, priority_side
from ..models import load_encoder, model_prompt
from .batching import Batcher, GroupTable, StepBatch, one_pair_per_group
from .checkpoint import apply_checkpoint, latest_checkpoint, read_latest_checkpoint, save_checkpoint
from .config import SOFT_LOSSES, TrainConfig, resume_conflicts, run_identity
from .encoding import TokenTable, forward_backward
from .objectives import make_objective

log = logging.getLogger(__name__)
Evaluator = Callable[[object], dict]


class TrainingError(PolyalignError):
    """The run cannot continue (non-finite loss, …); the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped the run after a checkpoint was saved; ``exit_code`` is 128 + signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


@contextlib.contextmanager
def _deferred_stop_signals():
    """Turn the first SIGINT/SIGTERM into a request (a list that receives the signal number) that the
    loop honours at the next step boundary, after saving a checkpoint; a second signal acts at once."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signal handlers can only be installed from the main thread
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def request_stop(signum, frame):
        caught.append(signum)
        for s, handler in previous.items():
            signal.signal(s, handler)
        log.warning("%s: stopping after this step (saving a checkpoint)", signal.Signals(signum).name)

    for s in previous:
        signal.signal(s, request_stop)
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@dataclass
class TrainResult:
    out: Path
    steps: int
    final_loss: float
    seq_per_s: float
    peak_memory_gib: float
    best_metric: float | None = None
    eval_history: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- setup helpers


def _init_distributed() -> tuple[int, int]:
    """(rank, world) — joins the process group torchrun/accelerate describe in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device:
        return torch.device(cfg.device)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _build_table(
    corpus, cfg: TrainConfig, tokenizer, prompt: str
) -> tuple[GroupTable, TokenTable, list[str]]:
    if "groups" not in corpus:
        raise DataError(f"{cfg.data}: no 'groups' split (build the corpus with `polyalign data build`)")
    groups = corpus["groups"]
    langs = group_languages(groups)
    if cfg.langs:
        for lang in cfg.langs:
            if lang not in langs:
                raise UnknownLanguageError(lang, langs, cfg.data)
        langs = list(cfg.langs)
    texts: list[str] = []
    index: dict[str, int] = {}

    def tid(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    members, ids = [], []
    for row in groups.select_columns([GROUP_ID, *langs]):
        m = [(lang, tid(row[lang])) for lang in langs if row[lang] is not None and row[lang].strip()]
        if len(m) >= 2:
            members.append(m)
            ids.append(row[GROUP_ID])
    if not members:
        raise DataError(f"{cfg.data}: no group has two or more of the languages {langs}")
    hard: dict[int, int] = {}
    if cfg.hard_negatives:
        if "hard_negatives" not in corpus:
            raise DataError(
                f"{cfg.data}: --hard-negatives needs a 'hard_negatives' split (XNLI corpora have one)"
            )
        pos = {g: i for i, g in enumerate(ids)}
        for row in corpus["hard_negatives"]:
            if row[GROUP_ID] in pos and (not cfg.langs or row["lang"] in langs):
                hard[pos[row[GROUP_ID]]] = tid(row["text"])
    tokens = TokenTable(tokenizer, texts, cfg.max_seq_length, prompt)
    return GroupTable(members, tokens.lengths, hard), tokens, texts


def _resolve_pivot(cfg: TrainConfig, corpus) -> str:
    """The corpus' own code for ``cfg.pivot`` (``en`` → ``eng_Latn`` in a FLORES corpus)."""
    langs = list(cfg.langs or group_languages(corpus["groups"]))
    try:
        return resolve_code(cfg.pivot, langs)
    except UnknownLanguageError:
        if cfg.view == "en_x":
            raise UnknownLanguageError(cfg.pivot, langs, f"{cfg.data} (--pivot)") from None
        return cfg.pivot  # the pivot is not used by this loss and view


def _scheduler(cfg: TrainConfig, optimizer, total: int):
    from transformers import get_scheduler

    main_steps = max(total - cfg.loss_warmup_steps, 1)
    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}[cfg.schedule]
    return get_scheduler(
        name, optimizer, num_warmup_steps=int(cfg.warmup_ratio * main_steps), num_training_steps=main_steps
    )


def training_card(cfg: TrainConfig, steps: int, inference_length: int | None) -> str:
    """The model card's polyalign section: how the model was trained, and at which token limits."""
    return (
        "\n## Trained with polyalign\n\n"
        f"- **Loss:** `{cfg.loss}` on `{cfg.view}` batches of {cfg.batch_groups} groups, τ = {cfg.temperature}"
        f"{', min-max scaling' if cfg.minmax else ''}{f', teacher `{cfg.teacher}`' if cfg.teacher else ''}"
        f"{f', monolingual-structure term (weight {cfg.keep_mono})' if cfg.keep_mono else ''}"
        f"{f', LoRA rank {cfg.lora_r} (merged)' if cfg.lora_r else ''}"
        f"{f', weights interpolated with the base at α = {cfg.wise_alpha} (WiSE-FT)' if cfg.wise_alpha < 1 else ''}"
        f"{f' (preset `{cfg.preset}`)' if cfg.preset else ''}\n"
        f"- **Base model:** `{cfg.model}`; **data:** `{cfg.data}`; {steps} steps, lr {cfg.lr}, seed {cfg.seed}\n"
        f"- **Token limits:** training batches were truncated at {cfg.max_seq_length} tokens; the model "
        f"encodes up to {inference_length} tokens at inference (the Maximum Sequence Length above).\n"
    )


def _save_model_atomic(model, out: Path, card: str | None = None) -> None:
    """Write the sentence-transformers files into ``out`` without ever leaving a half-written model;
    ``card`` is appended to the model card (README.md) that sentence-transformers writes."""
    staging = out / ".model-staging"
    if card and hasattr(model, "_model_card_text"):
        # sentence-transformers re-writes the card it loaded (the base model's: its token limit,
        # its training) unless told otherwise; a trained model gets a card generated from itself.
        model._model_card_text = None
    with atomic_path(staging, is_dir=True) as tmp:
        model.save(str(tmp))
        if card:
            readme = Path(tmp) / "README.md"
            text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
            readme.write_text(text.rstrip("\n") + "\n" + card, encoding="utf-8")
    for item in staging.iterdir():
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
    shutil.rmtree(staging, ignore_errors=True)


def _resolve_evaluator(cfg: TrainConfig, evaluator: Evaluator | None) -> Evaluator | None:
    if evaluator is not None or not cfg.eval_task:
        return evaluator
    from ..eval import make_dev_evaluator  # the evaluation suite

    return make_dev_evaluator(kind=cfg.eval_task, langs=cfg.eval_langs)


# ----------------------------------------------------------------------------- the loop


def train(
    cfg: TrainConfig, evaluator: Evaluator | None = None, *, stop_after: int | None = None
) -> TrainResult | list[TrainResult]:
    """Train and save a sentence-transformers model to ``cfg.out``.

    ``evaluator(model) -> {metric: value}`` runs every ``eval_every`` steps and at the end; with
    ``eval_metric`` the best evaluation's weights are the ones saved. ``stop_after`` ends the run
    after that many steps as if killed (for resume tests). With ``cfg.seeds`` one run per seed is
    made under ``out/seed-N`` and a ``summary.json`` aggregates them.
    """
    cfg.validate()
    if cfg.seeds:
        return _train_seeds(cfg, evaluator)
    if cfg.soup_with:
        from .soup import train_soup

        return train_soup(cfg, evaluator)
    return Trainer(cfg, evaluator).run(stop_after=stop_after)


def _train_seeds(cfg: TrainConfig, evaluator: Evaluator | None) -> list[TrainResult]:
    if _init_distributed()[0] == 0:  # rank 0 alone prepares the shared folder
        prepare_output(cfg.out, "train-seeds", overwrite=cfg.overwrite, resume=cfg.resume, hint=_RUN_HINT)
    results = []
    for seed in cfg.seeds:
        sub = dataclasses.replace(cfg, seed=seed, seeds=None, out=str(Path(cfg.out) / f"seed-{seed}"))
        if sub.soup_with:
            from .soup import train_soup

            results.append(train_soup(sub, evaluator)[-1])
        else:
            results.append(Trainer(sub, evaluator).run())
    summary = {"seeds": cfg.seeds, "runs": [str(r.out) for r in results]}
    finals = [r.eval_history[-1] for r in results if r.eval_history]
    if finals:
        keys = sorted(
            {k for f in finals for k, v in f.items() if isinstance(v, (int, float)) and k != "step"}
        )
        summary["final_eval"] = {
            k: {
                "mean": statistics.fmean(vals),
                "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                "values": vals,
            }
            for k in keys
            if (vals := [f[k] for f in finals if k in f])
        }
    write_text_atomic(Path(cfg.out) / "summary.json", json.dumps(summary, indent=2))
    return results


_RUN_HINT = "pass --resume to continue it or --overwrite to start over"


class Trainer:
    def __init__(self, cfg: TrainConfig, evaluator: Evaluator | None = None):
        self.cfg = cfg
        self.rank, self.world = _init_distributed()
        self.main = self.rank == 0
        self.device = _device(cfg)
        self.out = Path(cfg.out)
        # Before loading anything: a run never goes into someone else's folder or another run's.
        prepare_output(
            self.out, "train", overwrite=cfg.overwrite, resume=cfg.resume, create=False, hint=_RUN_HINT
        )
        self.evaluator = _resolve_evaluator(cfg, evaluator)
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)

        self.model = load_encoder(
            cfg.model,
            pooling=cfg.pooling,
            prompt=cfg.prompt,
            device=str(self.device),
            # The training cap (cfg.max_seq_length) applies to training batches only (TokenTable);
            # the saved model keeps the backbone's limit unless an inference limit is asked for.
            max_seq_length=cfg.inference_max_seq_length,
            trust_remote_code=cfg.trust_remote_code,
        )
        self.prompt = model_prompt(self.model)
        corpus = load_corpus(cfg.data)
        self.table, self.tokens, self.texts = _build_table(corpus, cfg, self.model.tokenizer, self.prompt)
        self.pivot = _resolve_pivot(cfg, corpus)
        self.batcher = Batcher(
            self.table,
            cfg.view,
            cfg.batch_groups,
            seed=cfg.seed,
            bucket_batches=cfg.bucket_batches,
            world_size=self.world,
            rank=self.rank,
            pivot=self.pivot,
            hard_negatives=cfg.hard_negatives,
        )
        self.steps_per_epoch = self.batcher.steps_per_epoch()
        self.total = cfg.steps or max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.teacher = self._load_teacher()

        # The transformers "pooler" (CLS dense + tanh) is never used by sentence-transformers pooling;
        # freezing it keeps DDP from waiting for gradients that never come. Everything is frozen
        # before the DDP wrap: DDP registers its gradient hooks for the parameters trainable then.
        for name, p in self.model.named_parameters():
            if ".pooler." in name or (cfg.freeze_embeddings and "word_embeddings" in name):
                p.requires_grad_(False)
        if cfg.lora_r:
            self._add_lora()
        self.ddp = None
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None
            )
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        try:  # the fused kernel is ~5x faster than the per-tensor loop on CPU, and faster on GPU too
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
        except (RuntimeError, TypeError):
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
        self.scheduler = _scheduler(cfg, self.optimizer, self.total)
        use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.device.type == "cuda")
        self.autocast = (
            (lambda: torch.autocast(self.device.type, dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )
        self.tb = None  # opened by run(), once the output folder is ready

    def _add_lora(self):
        """Wrap the transformer in peft LoRA adapters: every base weight frozen, low-rank updates of
        the attention and feed-forward projections trained (the unused pooler left out)."""
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:
            raise ConfigError("--lora-r needs the peft package: pip install 'polyalign[peft]'") from None
        module = self.model[0]
        r = self.cfg.lora_r
        config = LoraConfig(
            r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=r".*encoder\..*\.(query|key|value|dense)$"
        )
        module.model = get_peft_model(module.model, config)

    def _merged(self, final):
        """The LoRA updates folded into plain weights: the saved model loads without peft."""
        module = final[0]
        if hasattr(module.model, "merge_and_unload"):
            module.model = module.model.merge_and_unload()
        return final

    def _load_teacher(self):
        cfg = self.cfg
        if not cfg.uses_reference:
            return None
        if cfg.teacher in (None, "self"):  # keep_mono's default reference: the base model, frozen
            teacher = copy.deepcopy(self.model)
        else:
            teacher = load_encoder(
                cfg.teacher, device=str(self.device), trust_remote_code=cfg.trust_remote_code
            )
        # The training cap applies to everything computed on a training batch: the teacher sees the
        # same truncated sentences as the student (the copy would otherwise keep the inference limit).
        teacher.max_seq_length = min(teacher.max_seq_length or cfg.max_seq_length, cfg.max_seq_length)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def _tensorboard(self):
        if not (self.cfg.tensorboard and self.main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install 'polyalign[tensorboard]'"
            ) from None
        return SummaryWriter(str(self.out / "tb"))

    # -- one step

    def _teacher_embeddings(self, batch: StepBatch) -> torch.Tensor | None:
        if self.teacher is None:
            return None
        texts = [self.texts[t] for t in batch.texts]
        with torch.no_grad():
            emb = self.teacher.encode(
                texts,
                batch_size=self.cfg.chunk_size,
                convert_to_tensor=True,
                # Raw: MSE distillation regresses onto the teacher's own embedding (Reimers &
                # Gurevych, 2020); the soft-label and weighted losses normalise it themselves.
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        return (
            emb.float().to(self.device).clone()
        )  # encode() runs in inference mode; clone makes it usable by autograd

    def _orient(self, batch: StepBatch) -> StepBatch:
        """Soft-label and similarity-MSE losses trust the priority side: put it first in every pair."""
        if batch.kind != "pairs" or self.cfg.loss not in SOFT_LOSSES:
            return batch
        b = batch.n_pairs
        xs, ys, lx, ly = batch.texts[:b], batch.texts[b:], batch.langs[:b], batch.langs[b:]
        priority = [self.pivot]
        for i in range(b):
            if priority_side(lx[i], ly[i], priority) == 1:
                xs[i], ys[i], lx[i], ly[i] = ys[i], xs[i], ly[i], lx[i]
        return StepBatch("pairs", xs + ys, lx + ly, batch.group_ids)

    def step(self, step: int, batch: StepBatch) -> float:
        cfg = self.cfg
        loss_name = cfg.loss
        if step < cfg.loss_warmup_steps:
            batch = one_pair_per_group(batch, random.Random(cfg.seed * 7_777 + step))
            loss_name = "single"
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.loss_warmup_lr or cfg.lr
        elif step == cfg.loss_warmup_steps > 0:
            # Leaving the warm-up: hand the learning rate back to the main schedule (its step 0).
            for group, lr in zip(self.optimizer.param_groups, self.scheduler.get_last_lr()):
                group["lr"] = lr
        batch = self._orient(batch)
        teacher = self._teacher_embeddings(batch)
        objective = make_objective(cfg, loss_name, batch, teacher)
        module = self.ddp or self.model
        self.model.train()
        try:
            loss = forward_backward(
                module,
                self.tokens,
                batch.texts + batch.hard_texts,
                objective,
                chunk_size=cfg.chunk_size,
                device=self.device,
                grad_cache=cfg.grad_cache,
                autocast=self.autocast,
                no_sync=self.ddp.no_sync if self.ddp is not None else None,
            )
        except NonFiniteInputError as e:  # the losses' own finiteness check on the embeddings
            self._stop_non_finite(step, f"embeddings ({e})")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        # One host sync for both numbers (float(loss) alone would cost the same).
        value, norm = torch.stack([loss.float(), grad_norm.to(loss.device).float()]).tolist()
        if not math.isfinite(value):
            self._stop_non_finite(step, f"loss ({value})")
        if not math.isfinite(norm):
            self._stop_non_finite(step, f"gradient norm ({norm}) with a finite loss")
        self.optimizer.step()
        if step >= cfg.loss_warmup_steps:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return value

    def _stop_non_finite(self, step: int, what: str) -> NoReturn:
        self.optimizer.zero_grad(set_to_none=True)
        last = latest_checkpoint(self.out / "checkpoints")
        raise TrainingError(
            f"non-finite {what} at step {step + 1}; stopped before updating the weights; "
            f"last good checkpoint: {last or 'none yet'} (lower --lr, check the data, or resume with --resume)"
        )

    # -- the run

    def run(self, stop_after: int | None = None) -> TrainResult:
        cfg, out = self.cfg, self.out
        if self.world > 1:
            dist.barrier()  # every rank has checked --out (in __init__) before rank 0 writes there
        if self.main:
            prepare_output(out, "train", overwrite=cfg.overwrite, resume=cfg.resume, hint=_RUN_HINT)
        if self.world > 1:
            dist.barrier()
        ckpt_root = out / "checkpoints"
        start, best, history = self._resume(ckpt_root) if cfg.resume else (0, None, [])
        if self.main and start == 0 and (out / "train_log.jsonl").exists():
            (out / "train_log.jsonl").unlink()
        if self.main:
            write_text_atomic(out / "config.yaml", dump_yaml(cfg))
        self.tb = self._tensorboard()

        from tqdm.auto import tqdm

        bar_on = self.main and show_progress()
        bar = tqdm(total=self.total, initial=start, disable=not bar_on, desc=f"train {cfg.loss}", unit="step")
        epoch_cache: dict[int, list] = {}
        seqs = tokens = 0
        step_time = 0.0
        value = float("nan")
        done = saved = start  # steps completed; step of the newest checkpoint
        with _deferred_stop_signals() as stop:
            for step in range(start, self.total):
                if stop_after is not None and done - start >= stop_after:
                    break
                epoch, index = divmod(step, self.steps_per_epoch)
                if epoch not in epoch_cache:
                    epoch_cache = {epoch: self.batcher.epoch(epoch)}
                batch = self.batcher.local_batch(epoch_cache[epoch][index])
                t_step = time.perf_counter()
                value = self.step(step, batch)
                step_time += time.perf_counter() - t_step  # throughput counts training steps only
                encoded = batch.texts + batch.hard_texts
                seqs += len(encoded) * self.world
                tokens += sum(self.tokens.lengths[t] for t in encoded) * self.world
                done = step + 1
                elapsed = step_time
                rate = seqs / max(elapsed, 1e-9)
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}", seq_s=f"{rate:.0f}")
                if self.main and (done % cfg.log_every == 0 or done == self.total):
                    row = {
                        "step": done,
                        "epoch": epoch,
                        "loss": value,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "seq_per_s": rate,
                        "tokens_per_s": tokens / max(elapsed, 1e-9),
                        "peak_memory_gib": _peak_memory_gib(self.device),
                        "loss_name": "single" if step < cfg.loss_warmup_steps else cfg.loss,
                    }
                    append_jsonl(out / "train_log.jsonl", row)
                    if not bar_on:  # no terminal: a plain line instead of the bar
                        log.info("step %d/%d  loss %.4f  %.0f seq/s", done, self.total, value, rate)
                    if self.tb:
                        for k in ("loss", "lr", "seq_per_s"):
                            self.tb.add_scalar(f"train/{k}", row[k], done)
                if self.evaluator and cfg.eval_every and done % cfg.eval_every == 0 and done != self.total:
                    best = self._evaluate(done, best, history)
                if done % cfg.save_every == 0 and done != self.total:
                    self._checkpoint(done, best, history)
                    saved = done
                if self._stop_requested(stop):
                    bar.close()
                    self._interrupted(stop[0] if stop else signal.SIGINT, done, saved, best, history)
            bar.close()
            finished = done >= self.total
            if finished and self.evaluator:
                best = self._evaluate(self.total, best, history)
            if self.main and finished:
                if best is not None and (out / "best").is_dir():
                    from sentence_transformers import SentenceTransformer

                    final = SentenceTransformer(str(out / "best"), device="cpu")
                else:
                    final = self.model
                if cfg.lora_r:
                    final = self._merged(final)
                if cfg.wise_alpha < 1:
                    final = self._interpolated(final)
                card = training_card(cfg, self.total, getattr(final, "max_seq_length", None))
                _save_model_atomic(final, out, card)
                if history:
                    write_text_atomic(out / "eval_history.json", json.dumps(history, indent=2))
        elapsed = step_time
        if self.tb:
            self.tb.close()
        return TrainResult(
            out=out,
            steps=done,
            final_loss=value,
            seq_per_s=seqs / max(elapsed, 1e-9),
            peak_memory_gib=_peak_memory_gib(self.device),
            best_metric=best,
            eval_history=history,
        )

    def _interpolated(self, final):
        """WiSE-FT: the saved weights are α·trained + (1−α)·base (the base loaded afresh)."""
        from .interpolate import interpolate_weights

        cfg = self.cfg
        base = load_encoder(
            cfg.model,
            pooling=cfg.pooling,
            prompt=cfg.prompt,
            device="cpu",
            max_seq_length=cfg.inference_max_seq_length,
            trust_remote_code=cfg.trust_remote_code,
        )
        return interpolate_weights(final, base, cfg.wise_alpha)

    def _resume(self, ckpt_root: Path) -> tuple[int, float | None, list[dict]]:
        """(start step, best metric, eval history) from the newest intact checkpoint of this run."""
        found = read_latest_checkpoint(ckpt_root)
        saved = found[1]["extra"].get("config") if found else None
        source = found[0] if found else self.out / "config.yaml"
        if saved is None and (self.out / "config.yaml").is_file():  # a checkpoint from before v0.1
            import yaml

            saved = yaml.safe_load((self.out / "config.yaml").read_text(encoding="utf-8"))
        conflicts = resume_conflicts(saved, self.cfg) if isinstance(saved, dict) else []
        if conflicts:
            raise ConfigError(
                f"--resume: {source} belongs to a different run: {'; '.join(conflicts)} "
                "(use another --out, or --overwrite to start over)"
            )
        if found is None:
            log.warning("--resume: no checkpoint in %s, starting from scratch", ckpt_root)
            return 0, None, []
        path, state = found
        apply_checkpoint(state, self.model, self.optimizer, self.scheduler)
        log.info("resumed from %s (step %d)", path, state["step"])
        return state["step"], state["extra"].get("best"), state["extra"].get("history", [])

    def _checkpoint(self, done: int, best: float | None, history: list[dict]) -> Path | None:
        if not self.main:
            return None
        extra = {"best": best, "history": history, "config": run_identity(self.cfg)}
        return save_checkpoint(
            self.out / "checkpoints",
            done,
            self.model,
            self.optimizer,
            self.scheduler,
            extra,
            keep=self.cfg.keep_checkpoints,
        )

    def _stop_requested(self, stop: list[int]) -> bool:
        if self.world == 1:
            return bool(stop)
        flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # every rank stops at the same step
        return bool(flag.item())

    def _interrupted(self, signum: int, done: int, saved: int, best, history) -> None:
        if done != saved:
            self._checkpoint(done, best, history)
        where = self.out / "checkpoints" / f"step-{done:08d}" if done else None
        if self.tb:
            self.tb.close()
        name = signal.Signals(signum).name
        raise TrainingInterrupted(
            f"{name} at step {done} of {self.total}; "
            + (f"checkpoint {where} — continue with --resume" if where else "no step had finished"),
            signum,
        )

    def _evaluate(self, step: int, best: float | None, history: list[dict]) -> float | None:
        cfg = self.cfg
        self.model.eval()
        scores = dict(self.evaluator(self.model)) if self.main else {}
        self.model.train()
        if not self.main:
            return best
        scores["step"] = step
        history.append(scores)
        log.info(
            "eval at step %d: %s",
            step,
            {k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()},
        )
        if cfg.eval_metric:
            if cfg.eval_metric not in scores:
                raise ConfigError(
                    f"eval_metric {cfg.eval_metric!r} not among the evaluator's metrics {sorted(scores)}"
                )
            value = scores[cfg.eval_metric]
            # The direction travels with the evaluator (xsim error: lower is better); eval_mode overrides.
            higher = getattr(self.evaluator, "higher_is_better", True)
            if cfg.eval_mode is not None:
                higher = cfg.eval_mode == "max"
            better = best is None or (value > best if higher else value < best)
            if better:
                best = value
                with atomic_path(self.out / "best", is_dir=True) as tmp:
                    self.model.save(str(tmp))
        return best
