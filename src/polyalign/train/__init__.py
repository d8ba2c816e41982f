"""Training: multi-way batches, losses, loss warm-up, GradCache, multi-GPU, checkpoints/resume.

The trainer (torch, datasets) is imported on first use, so reading a :class:`TrainConfig` (and
``polyalign --help``) stays cheap.
"""

from .config import LOSSES, TrainConfig

__all__ = ["LOSSES", "TrainConfig", "TrainResult", "TrainingError", "TrainingInterrupted", "train"]

_TRAINER = ("TrainResult", "TrainingError", "TrainingInterrupted", "train")


def __getattr__(name: str):
    if name in _TRAINER:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
