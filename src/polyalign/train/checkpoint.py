"""Atomic training checkpoints: weights, optimizer, scheduler, RNG and data position.

A checkpoint folder appears complete or not at all (written to a temp name, then renamed), so a
run killed at any moment resumes from the last complete one.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch

from ..io import atomic_path

PREFIX = "step-"


def save_checkpoint(root: Path, step: int, model, optimizer, scheduler, extra: dict, keep: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{PREFIX}{step:08d}"
    state = {
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "rng_python": random.getstate(),
        "extra": extra,
    }
    with atomic_path(target, is_dir=True) as tmp:
        torch.save(state, tmp / "state.pt")
    for old in sorted(root.glob(f"{PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(root: Path) -> Path | None:
    found = sorted(p for p in root.glob(f"{PREFIX}*") if (p / "state.pt").is_file())
    return found[-1] if found else None


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    # Our own files (written above); weights_only=False is needed for the Python RNG state.
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_torch"])
    if state["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    random.setstate(state["rng_python"])
    return state
