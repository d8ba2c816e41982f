"""Training: multi-way batches, losses, loss warm-up, GradCache, multi-GPU, checkpoints/resume."""

from .config import LOSSES, TrainConfig
from .trainer import TrainingError, TrainingInterrupted, TrainResult, train

__all__ = ["LOSSES", "TrainConfig", "TrainResult", "TrainingError", "TrainingInterrupted", "train"]
