"""Two-model soups (Wortsman et al. 2022): ``soup_with: PRESET`` trains the run as configured and the
same run under PRESET's settings (same model, data, seed and budget), then saves
``weight·this + (1 − weight)·other``, parameter by parameter.

Why: runs that share the base model and the data sit in one basin, so their average keeps most of
what each one gains — here the soft labels' monolingual STS and the structure term's classification
(RESULTS.md Part E6). The two runs stay under ``OUT/soup-parts/`` (each a complete model), so a
different weight costs an interpolation, not a training run; a killed soup resumes run by run.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from ..config import dump_yaml
from ..io import prepare_output, write_text_atomic
from .config import TrainConfig

PARTS = "soup-parts"


def soup_parts(cfg: TrainConfig) -> tuple[TrainConfig, TrainConfig]:
    """The two runs of a soup: this config without the soup, and the same config under the
    ``soup_with`` preset's settings (they win over this config's for the fields the preset sets)."""
    from .presets import PRESETS

    parts = Path(cfg.out) / PARTS
    plain = {"soup_with": None, "soup_weight": 0.5}
    # The first part is this config's own settings; it keeps the preset's name unless that preset is
    # the soup itself (then the name would claim a soup for one run).
    named = cfg.preset if cfg.preset and not PRESETS[cfg.preset].fields.get("soup_with") else None
    own = dataclasses.replace(cfg, **plain, preset=named, out=str(parts / "main"))
    other_fields = PRESETS[cfg.soup_with].fields
    other = dataclasses.replace(
        cfg, **other_fields, **plain, preset=cfg.soup_with, out=str(parts / cfg.soup_with)
    )
    return own, other


def soup_card(cfg: TrainConfig, own: Path, other: Path) -> str:
    return (
        "\n## Trained with polyalign (two-model soup)\n\n"
        f"- **Weights:** {cfg.soup_weight:g} × `{own.name}` + {1 - cfg.soup_weight:g} × `{other.name}` "
        f"(both under `{PARTS}/`, each with its own model card and training log)"
        f"{f' (preset `{cfg.preset}`)' if cfg.preset else ''}\n"
        f"- **Base model:** `{cfg.model}`; **data:** `{cfg.data}`; seed {cfg.seed}\n"
    )


def train_soup(cfg: TrainConfig, evaluator=None) -> list:
    """Train both parts (a part already complete is kept), then save their weight average to
    ``cfg.out``. Returns the :class:`~polyalign.train.trainer.TrainResult` of each part trained now,
    then the soup's (its steps: both parts'; no loss of its own)."""
    from ..models import load_encoder
    from .interpolate import interpolate_weights
    from .trainer import _RUN_HINT, Trainer, TrainResult, _init_distributed, _save_model_atomic

    rank = _init_distributed()[0]
    out = Path(cfg.out)
    if rank == 0:
        prepare_output(out, "train-soup", overwrite=cfg.overwrite, resume=cfg.resume, hint=_RUN_HINT)
        write_text_atomic(out / "config.yaml", dump_yaml(cfg))
    trained, steps = [], 0
    for part in soup_parts(cfg):
        if (Path(part.out) / "modules.json").is_file():  # complete: kept (--resume)
            continue
        # Inside a soup folder just prepared, each part starts fresh; with --resume each continues.
        result = Trainer(dataclasses.replace(part, overwrite=False, resume=cfg.resume), evaluator).run()
        trained.append(result)
        steps += result.steps
    if rank == 0:
        own, other = (Path(p.out) for p in soup_parts(cfg))
        model = load_encoder(str(own), device="cpu")
        interpolate_weights(model, load_encoder(str(other), device="cpu"), cfg.soup_weight)
        _save_model_atomic(model, out, soup_card(cfg, own, other))
    soup = TrainResult(
        out=out,
        steps=steps,
        final_loss=math.nan,
        seq_per_s=sum(r.seq_per_s for r in trained) / len(trained) if trained else math.nan,
        peak_memory_gib=max((r.peak_memory_gib for r in trained), default=math.nan),
    )
    return [*trained, soup]
