"""Training configuration: one flat, typed dataclass; loads from YAML, every field a CLI option."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from ..config import OVERWRITE_HELP, check_fields
from ..errors import ConfigError

LOSSES = (
    "single",
    "multi",
    "multi-out",
    "multiway",
    "weighted-multi",
    "soft-priority",
    "soft-average",
    "soft-hard",
    "sim-mse-priority",
    "sim-mse-average",
    "mse",
)
# Soft-label contrastive losses and IMASCL's similarity-matrix MSE: pair losses whose targets come
# from the teacher's (B, B) similarities; they share TCM, the combination and the priority side.
SOFT_LOSSES = ("soft-priority", "soft-average", "soft-hard", "sim-mse-priority", "sim-mse-average")
TEACHER_LOSSES = (
    "soft-priority",
    "soft-average",
    "sim-mse-priority",
    "sim-mse-average",
    "mse",
    "weighted-multi",
)
# losses.soft_label.COMBINES, repeated so that this module (and `polyalign --help`) stays torch-free.
COMBINES = ("sum", "mean")
VIEWS = ("groups", "pairs", "en_x", "en_x1")
# Which view each loss reads by default: multi-positive and multi-way losses need whole groups;
# the single-positive baseline reads random disjoint language pairs of the same groups (MPCL's
# "parallel structure"); teacher-based losses read pivot–X pairs (the teacher sees the pivot side).
# en_x1 (one X per pivot sentence, the multi-way paper's En–X baseline) is chosen explicitly.
GROUP_LOSSES = ("multi", "multi-out", "multiway", "weighted-multi")
DEFAULT_VIEW = {
    "single": "pairs",
    "multi": "groups",
    "multi-out": "groups",
    "multiway": "groups",
    "weighted-multi": "groups",
    "soft-priority": "en_x",
    "soft-average": "en_x",
    "soft-hard": "en_x",
    "sim-mse-priority": "en_x",
    "sim-mse-average": "en_x",
    "mse": "en_x",
}


# Sections of `polyalign train --help` (the field metadata "group").
MODEL = "model and data"
LOSS = "loss"
OPTIM = "optimisation"
SPEED = "speed and memory"
CKPT = "checkpoints and logging"
EVAL = "evaluation during training"


def _f(default, help_text: str, group: str):
    meta = {"help": help_text, "group": group}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    preset: str | None = _f(
        None,
        "a named recipe from polyalign.train.presets (see `polyalign train --list-presets`); its "
        "settings sit under the config file's and the command line's",
        group=MODEL,
    )
    model: str = _f("me5-small-q4", "backbone: alias, local folder or hub id", group=MODEL)
    data: str = _f(
        "", "corpus folder from `polyalign data build` / `polyalign synth` (required)", group=MODEL
    )
    out: str = _f(
        "runs/train", "output folder (model, train_log.jsonl, config.yaml, checkpoints/)", group=MODEL
    )
    pooling: str | None = _f(None, "override pooling: mean or cls", group=MODEL)
    prompt: str | None = _f(None, "override the text prefix (E5 default 'query: ')", group=MODEL)
    loss: str = _f("multi", f"one of {', '.join(LOSSES)}", group=LOSS)
    data_view: str | None = _f(
        None,
        "groups, pairs (random disjoint pairs), en_x (every pivot–X pair) or en_x1 (one random X per "
        "pivot sentence); default depends on the loss",
        group=MODEL,
    )
    langs: list[str] | None = _f(None, "restrict training to these language columns", group=MODEL)
    pivot: str = _f("en", "pivot language for en_x/en_x1 pairs and the soft-label priority side", group=MODEL)
    temperature: float = _f(0.05, "contrastive temperature τ", group=LOSS)
    minmax: bool = _f(False, "MPCL min-max scaling of similarities into [-1/τ, 1/τ]", group=LOSS)
    symmetric: bool = _f(
        True, "single/soft losses: both directions (single: averaged; soft: per --soft-combine)", group=LOSS
    )
    hard_negatives: bool = _f(
        False,
        "add the corpus' hard negatives (XNLI contradictions) to the denominators",
        group=LOSS,
    )
    teacher: str | None = _f(
        None,
        "frozen teacher for soft/mse/weighted losses ('self' = frozen copy of the student)",
        group=LOSS,
    )
    teacher_temperature: float = _f(0.05, "temperature of the teacher's soft targets", group=LOSS)
    tcm: bool = _f(
        False, "soft/sim-mse losses: add the monolingual spaces, L = λ·L_cross + L_mono", group=LOSS
    )
    tcm_lambda: float = _f(1.0, "λ of TCM", group=LOSS)
    batch_groups: int = _f(
        64, "groups per step (pair losses take the same number of sentences per step)", group=OPTIM
    )
    max_seq_length: int = _f(
        64, "truncate training inputs to this many tokens (training batches only)", group=MODEL
    )
    soft_combine: str = _f(
        "sum",
        "soft/sim-mse losses: sum (IMASCL: every space and direction summed) or mean "
        "(directions averaged, the two monolingual spaces averaged)",
        group=LOSS,
    )
    margin: float = _f(
        0.0,
        "soft losses: IMASCL's additive margin, subtracted from the student's similarity (before /τ) "
        "wherever the teacher's similarity exceeds positive_threshold; 0 = off",
        group=LOSS,
    )
    positive_threshold: float = _f(
        0.95, "teacher similarity above which an entry gets the margin", group=LOSS
    )
    inference_max_seq_length: int | None = _f(
        None, "token limit saved with the model for inference (default: the backbone's own)", group=MODEL
    )
    keep_mono: float = _f(
        0.0,
        "weight of the monolingual-structure term: within each language of the batch, cosine "
        "similarities are kept close to a frozen reference's (--teacher, default a frozen copy of the "
        "base model); 0 = off",
        group=LOSS,
    )
    lora_r: int = _f(
        0,
        "train LoRA adapters of this rank (peft; attention and feed-forward projections, scale 2) "
        "instead of every weight; merged into the saved model; 0 = full fine-tuning",
        group=LOSS,
    )
    wise_alpha: float = _f(
        1.0,
        "save α·trained + (1−α)·base weights (WiSE-FT weight interpolation); 1 = the trained weights",
        group=LOSS,
    )
    soup_with: str | None = _f(
        None,
        "also train the same run under this preset (same model, data, seed and budget) and save "
        "the two models' weight average (a two-model soup); the two runs stay in OUT/soup-parts",
        group=LOSS,
    )
    soup_weight: float = _f(
        0.5,
        "with soup_with: this run's weight in the soup, the other run's is 1 − weight",
        group=LOSS,
    )
    lr: float = _f(2e-5, "peak learning rate", group=OPTIM)
    weight_decay: float = _f(0.01, "AdamW weight decay", group=OPTIM)
    schedule: str = _f("linear", "linear, cosine or constant (after warm-up)", group=OPTIM)
    warmup_ratio: float = _f(0.1, "learning-rate warm-up as a fraction of all steps", group=OPTIM)
    steps: int | None = _f(None, "total optimizer steps (overrides epochs)", group=OPTIM)
    epochs: float = _f(1.0, "passes over the data when steps is not set", group=OPTIM)
    loss_warmup_steps: int = _f(0, "MPCL warm-up: first N steps use the single-positive loss", group=LOSS)
    loss_warmup_lr: float | None = _f(None, "learning rate during the loss warm-up (default: lr)", group=LOSS)
    freeze_embeddings: bool = _f(
        False,
        "freeze the token embedding matrix (most of a multilingual model's weights)",
        group=OPTIM,
    )
    grad_cache: bool = _f(
        False, "gradient caching: activation memory independent of the batch size", group=SPEED
    )
    chunk_size: int = _f(
        128, "sequences per forward chunk (length-sorted; GradCache mini-batch)", group=SPEED
    )
    bucket_batches: int = _f(
        32, "length-aware bucketing: sort this many batches' worth of groups by length", group=SPEED
    )
    precision: str = _f("auto", "auto (bf16 on GPU, fp32 on CPU), bf16 or fp32", group=SPEED)
    seed: int = _f(0, "random seed", group=OPTIM)
    seeds: list[int] | None = _f(
        None, "several seeds in one command: out/seed-N each, plus summary.json", group=OPTIM
    )
    log_every: int = _f(10, "write a train_log.jsonl row every N steps", group=CKPT)
    save_every: int = _f(200, "checkpoint every N steps (atomic; for --resume)", group=CKPT)
    keep_checkpoints: int = _f(2, "how many recent checkpoints to keep", group=CKPT)
    resume: bool = _f(False, "continue from the last checkpoint in out/checkpoints", group=CKPT)
    overwrite: bool = _f(False, OVERWRITE_HELP, group=CKPT)
    eval_every: int = _f(
        0, "evaluate every N steps (0 = only at the end when an evaluator is set)", group=EVAL
    )
    eval_task: str | None = _f(None, "dev evaluator, e.g. flores-dev-xsim or tatoeba", group=EVAL)
    eval_langs: list[str] | None = _f(None, "languages for the dev evaluator", group=EVAL)
    eval_metric: str | None = _f(None, "metric key for best-checkpoint selection", group=EVAL)
    eval_mode: str | None = _f(
        None,
        "max or min: whether a larger metric is better (default: the evaluator says; else max)",
        group=EVAL,
    )
    device: str | None = _f(None, "cuda, cpu, … (default: cuda when available)", group=SPEED)
    tensorboard: bool = _f(False, "also log to TensorBoard under out/tb", group=CKPT)
    trust_remote_code: bool = _f(False, "allow code shipped in a hub model repo to run", group=MODEL)

    def validate(self) -> None:
        # Types first (bool is not an int, finite floats), by the rules YAML and the CLI share.
        check_fields(self)
        if not self.data:
            raise ConfigError("train: --data is required (a folder from `polyalign data build`)")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.data_view is not None and self.data_view not in VIEWS:
            raise ConfigError(f"unknown data_view {self.data_view!r}; choose one of {', '.join(VIEWS)}")
        if self.view == "groups" and self.loss in ("single", "mse", *SOFT_LOSSES):
            raise ConfigError(f"loss {self.loss!r} trains on pairs; use data_view pairs, en_x or en_x1")
        if self.view != "groups" and self.loss in GROUP_LOSSES:
            raise ConfigError(f"loss {self.loss!r} needs whole groups; use data_view groups")
        if self.loss in TEACHER_LOSSES and not self.teacher:
            raise ConfigError(f"loss {self.loss!r} needs --teacher (a model, or 'self' for a frozen copy)")
        if self.minmax and self.loss not in ("single", *GROUP_LOSSES):
            raise ConfigError(f"min-max scaling applies to the InfoNCE-type losses, not {self.loss!r}")
        if self.hard_negatives and (self.view != "groups" or self.loss == "multiway"):
            raise ConfigError(
                "hard negatives are supported with the multi-positive losses (data_view groups), "
                "not with multiway"
            )
        if self.tcm and self.loss not in SOFT_LOSSES:
            raise ConfigError(f"tcm applies to the soft/sim-mse losses, not {self.loss!r}")
        if self.soft_combine not in COMBINES:
            raise ConfigError(
                f"unknown soft_combine {self.soft_combine!r}; choose one of {', '.join(COMBINES)}"
            )
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ConfigError(f"margin must be a finite number ≥ 0, got {self.margin}")
        if self.margin and not self.loss.startswith("soft-"):
            raise ConfigError(f"margin applies to the soft-label losses (soft-*), not {self.loss!r}")
        if not (math.isfinite(self.keep_mono) and self.keep_mono >= 0):
            raise ConfigError(f"keep_mono must be a finite number ≥ 0, got {self.keep_mono}")
        if self.lora_r < 0:
            raise ConfigError(f"lora_r must be ≥ 0, not {self.lora_r}")
        if self.lora_r and self.eval_metric:
            raise ConfigError("best-checkpoint selection (eval_metric) is not supported with LoRA (lora_r)")
        if not (math.isfinite(self.wise_alpha) and 0 < self.wise_alpha <= 1):
            raise ConfigError(f"wise_alpha must be in (0, 1], got {self.wise_alpha}")
        if self.soup_with is not None:
            from .presets import PRESETS

            if self.soup_with not in PRESETS:
                raise ConfigError(
                    f"unknown soup_with preset {self.soup_with!r}; choose one of {', '.join(PRESETS)}"
                )
            if PRESETS[self.soup_with].fields.get("soup_with"):
                raise ConfigError(f"soup_with names {self.soup_with!r}, itself a soup; name a one-run preset")
            if not (math.isfinite(self.soup_weight) and 0 < self.soup_weight < 1):
                raise ConfigError(f"soup_weight must be strictly between 0 and 1, got {self.soup_weight}")
            if self.wise_alpha < 1:
                raise ConfigError("soup_with and wise_alpha both interpolate the saved weights: use one")
        if self.preset is not None:
            from .presets import PRESETS

            if self.preset not in PRESETS:
                raise ConfigError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
            # TrainConfig(preset=...) built directly cannot tell given fields from defaults, so it
            # records the name without the settings: refuse that rather than train (and label) a
            # model the preset did not make.
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            differing = {k for k, v in PRESETS[self.preset].fields.items() if v != defaults[k]}
            if differing and all(getattr(self, k) == defaults[k] for k in differing):
                raise ConfigError(
                    f"preset {self.preset!r} is named but not applied ({', '.join(sorted(differing))} "
                    f"at their defaults): build the config with TrainConfig.from_preset"
                    f"({self.preset!r}, ...), a YAML file or the command line, or drop preset"
                )
        if not math.isfinite(self.positive_threshold):
            raise ConfigError("positive_threshold must be a finite number")
        for name in ("temperature", "teacher_temperature", "lr", "epochs", "loss_warmup_lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0, not {value}")
        for name in ("weight_decay", "tcm_lambda", "loss_warmup_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be ≥ 0, not {getattr(self, name)}")
        if not 0 <= self.warmup_ratio <= 1:
            raise ConfigError(f"warmup_ratio must be between 0 and 1, not {self.warmup_ratio}")
        for name in (
            "batch_groups",
            "max_seq_length",
            "chunk_size",
            "bucket_batches",
            "log_every",
            "save_every",
            "keep_checkpoints",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be ≥ 1, not {getattr(self, name)}")
        if self.inference_max_seq_length is not None and self.inference_max_seq_length < 1:
            raise ConfigError("inference_max_seq_length must be ≥ 1")
        if self.steps is not None and self.steps < 1:
            raise ConfigError("steps must be ≥ 1")
        if self.schedule not in ("linear", "cosine", "constant"):
            raise ConfigError(f"unknown schedule {self.schedule!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"unknown precision {self.precision!r}")
        if self.eval_mode not in (None, "max", "min"):
            raise ConfigError("eval_mode must be max or min")
        if self.resume and self.overwrite:
            raise ConfigError("--resume continues a run and --overwrite replaces it: give one of them")
        if self.loss_warmup_steps and self.view != "groups":
            raise ConfigError(
                "the single-positive loss warm-up applies to multi-positive training (data_view groups)"
            )

    @classmethod
    def under_preset(cls, fields: dict) -> dict:
        """``fields`` on top of the named preset's settings (what :func:`~polyalign.config.from_dict`
        applies for YAML files, the command line and study arms)."""
        name = fields.get("preset")
        if name is None:
            return fields
        from .presets import PRESETS

        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return {**PRESETS[name].fields, **fields}

    @classmethod
    def from_preset(cls, name: str, **fields) -> TrainConfig:
        """A validated config from a named preset, any field overridden: the Python twin of
        ``polyalign train --preset NAME``."""
        from ..config import from_dict

        return from_dict(cls, {**fields, "preset": name})

    @property
    def uses_reference(self) -> bool:
        """Whether a frozen reference model runs on every batch (teacher losses, keep_mono)."""
        return self.loss in TEACHER_LOSSES or self.keep_mono > 0

    @property
    def view(self) -> str:
        return self.data_view or DEFAULT_VIEW[self.loss]


# Fields a --resume may change: where and how the run executes, not what it learns.
RESUMABLE_CHANGES = frozenset(
    {
        "out",
        "resume",
        "overwrite",
        "seeds",
        "device",
        "chunk_size",
        "grad_cache",
        "log_every",
        "save_every",
        "keep_checkpoints",
        "eval_every",
        "eval_task",
        "eval_langs",
        "eval_metric",
        "eval_mode",
        "tensorboard",
        "trust_remote_code",
    }
)


def run_identity(cfg: TrainConfig) -> dict:
    """The config as a checkpoint records it: local model/data/teacher paths made absolute, so a
    resume from another working directory compares the same folders."""
    out = dataclasses.asdict(cfg)
    for name in ("model", "data", "teacher"):
        value = out.get(name)
        if isinstance(value, str) and value and os.path.exists(value):
            out[name] = os.path.abspath(value)
    return out


def resume_conflicts(saved: dict, cfg: TrainConfig) -> list[str]:
    """``field (run: X, now: Y)`` for every learning-relevant field that differs from a saved run."""
    now = run_identity(cfg)
    saved = run_identity(dataclasses.replace(cfg, **{k: v for k, v in saved.items() if k in now}))
    return [
        f"{name} (run: {saved[name]!r}, now: {value!r})"
        for name, value in now.items()
        if name not in RESUMABLE_CHANGES and saved[name] != value
    ]
