"""Atomic training checkpoints: weights, optimizer, scheduler, RNG and data position.

A checkpoint folder appears complete or not at all (written to a temp name, then renamed), so a
run killed at any moment resumes from the last complete one. A damaged ``state.pt`` (a truncated
copy, a full disk) is skipped for the previous intact checkpoint, saying so.

``state.pt`` holds only tensors and plain values (the Python RNG state is a tuple of ints), so it is
read with ``torch.load(weights_only=True)``: a run folder from someone else cannot run code on
``--resume``. A file that needs anything else is refused, never fallen back from.
"""

from __future__ import annotations

import logging
import pickle
import random
import re
import shutil
from pathlib import Path

import torch

from ..errors import PolyalignError
from ..io import atomic_path, clean_staging

log = logging.getLogger(__name__)

PREFIX = "step-"


class CheckpointError(PolyalignError):
    """A checkpoint that cannot be read (truncated, not a checkpoint)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle would import or call arbitrary Python objects."""


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
        clean_staging(old)  # a save of that step killed earlier
    return target


def _candidates(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(f"{PREFIX}*") if (p / "state.pt").is_file())


def latest_checkpoint(root: Path) -> Path | None:
    found = _candidates(root)
    return found[-1] if found else None


def read_checkpoint(path: Path) -> dict:
    """The state saved in ``path/state.pt``, without running any code stored in it."""
    file = path / "state.pt"
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        blocked = re.search(r"GLOBAL (\S+)", str(e))
        if blocked or "Weights only load failed" in str(e):
            what = blocked.group(1) if blocked else "objects other than tensors and plain values"
            raise UnsafeCheckpointError(
                f"{file}: refused: it would load {what}, which a polyalign checkpoint never holds "
                "(a tampered or foreign file; nothing was executed)"
            ) from None
        raise CheckpointError(f"{file}: unreadable ({e})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{file}: unreadable ({str(e).splitlines()[0]})") from None
    keys = ("step", "model", "optimizer", "rng_torch", "rng_python")
    if not isinstance(state, dict) or not all(k in state for k in keys):
        raise CheckpointError(f"{file}: not a polyalign checkpoint (it lacks one of {', '.join(keys)})")
    return state


def read_latest_checkpoint(root: Path) -> tuple[Path, dict] | None:
    """The newest readable checkpoint under ``root`` and its state; damaged ones are skipped with a
    warning naming the file. None when there is no checkpoint at all."""
    damaged = []
    for path in reversed(_candidates(root)):
        try:
            state = read_checkpoint(path)
        except UnsafeCheckpointError:
            raise
        except CheckpointError as e:
            damaged.append(str(e))
            log.warning("%s; falling back to the previous checkpoint", e)
            continue
        if damaged:
            log.warning("resuming from %s instead", path)
        return path, state
    if damaged:
        raise CheckpointError(f"no intact checkpoint in {root}: {'; '.join(damaged)}")
    return None


def apply_checkpoint(state: dict, model, optimizer, scheduler) -> None:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_torch"])
    if state.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    random.setstate(_python_rng_state(state["rng_python"]))


def _python_rng_state(saved) -> tuple:
    # random.setstate wants (version, tuple of ints, gauss) — tuples, whatever the serializer returns.
    version, internal, gauss = saved
    return int(version), tuple(int(x) for x in internal), gauss


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict:
    state = read_checkpoint(path)
    apply_checkpoint(state, model, optimizer, scheduler)
    return state
