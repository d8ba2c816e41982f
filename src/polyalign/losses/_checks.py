"""Argument validation shared by the losses.

Every loss validates its inputs up front so a wrong shape, a bad temperature or a NaN produced
upstream fails with a message naming the argument, instead of silently broadcasting into a
meaningless scalar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from polyalign.errors import PolyalignError

__all__ = [
    "LossInputError",
    "NonFiniteInputError",
    "check_choice",
    "check_embeddings",
    "check_group_ids",
    "check_matrix",
    "check_nonnegative",
    "check_nonnegative_matrix",
    "check_positive",
    "check_same_dim",
    "check_same_shape",
    "check_targets",
]


class LossInputError(PolyalignError, ValueError):
    """A loss was called with an argument it cannot interpret (shape, value or option)."""


class NonFiniteInputError(LossInputError):
    """Embeddings with NaN or inf values: upstream diverged (the trainer stops the run on it)."""


def check_embeddings(name: str, x: object, *, min_rows: int = 1) -> Tensor:
    """``x`` must be a finite, floating-point, 2-D tensor with at least ``min_rows`` rows."""
    if not isinstance(x, Tensor):
        raise LossInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise LossInputError(f"{name} must be 2-D (batch, dim), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise LossInputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise LossInputError(
            f"{name} needs at least {min_rows} row(s) and 1 column, got shape {tuple(x.shape)}"
        )
    # One sync per call; cheap next to the matmul and it catches a diverged encoder early.
    if not bool(torch.isfinite(x).all()):
        raise NonFiniteInputError(f"{name} contains NaN or inf values")
    return x


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape != b.shape:
        raise LossInputError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_same_dim(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise LossInputError(
            f"{name_a} and {name_b} must have the same embedding dimension, got {a.shape[-1]} and {b.shape[-1]}"
        )


def check_positive(name: str, value: object) -> float:
    """A finite number strictly greater than zero (temperatures, scales)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LossInputError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise LossInputError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_nonnegative(name: str, value: object) -> float:
    """A finite number ≥ 0 (weights, margins)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise LossInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise LossInputError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


def check_group_ids(name: str, ids: object, n: int, device: torch.device) -> Tensor:
    """A 1-D integer tensor (or sequence of ints) of length ``n``; returned as int64 on ``device``."""
    if not isinstance(ids, Tensor):
        try:
            ids = torch.as_tensor(ids)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise LossInputError(f"{name} must be a 1-D integer tensor, got {type(ids).__name__}") from exc
    if ids.dim() != 1:
        raise LossInputError(f"{name} must be 1-D, got shape {tuple(ids.shape)}")
    # Floats could hide rounding (1.0000001 != 1) and bools are almost always a mask passed by mistake.
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise LossInputError(f"{name} must have an integer dtype, got {ids.dtype}")
    if ids.shape[0] != n:
        raise LossInputError(f"{name} must have length {n} (one id per row), got {ids.shape[0]}")
    return ids.to(device=device, dtype=torch.long)


def check_matrix(name: str, w: object, shape: tuple[int, int] | None = None) -> Tensor:
    """A finite floating 2-D tensor of exactly ``shape`` (any square matrix when None)."""
    if not isinstance(w, Tensor):
        raise LossInputError(f"{name} must be a torch.Tensor, got {type(w).__name__}")
    if shape is None and (w.dim() != 2 or w.shape[0] != w.shape[1]):
        raise LossInputError(f"{name} must be a square (B, B) matrix, got shape {tuple(w.shape)}")
    if shape is not None and tuple(w.shape) != tuple(shape):
        raise LossInputError(f"{name} must have shape {tuple(shape)}, got {tuple(w.shape)}")
    if not w.is_floating_point():
        raise LossInputError(f"{name} must be a floating-point tensor, got dtype {w.dtype}")
    if not bool(torch.isfinite(w).all()):
        raise NonFiniteInputError(f"{name} contains NaN or inf values")
    return w


def check_nonnegative_matrix(name: str, w: object, shape: tuple[int, int]) -> Tensor:
    """A finite floating tensor of exactly ``shape`` with no negative entry."""
    w = check_matrix(name, w, shape)
    if bool((w < 0).any()):
        raise LossInputError(f"{name} must be non-negative, found min {float(w.min()):.4g}")
    return w


def check_targets(name: str, w: object, batch: int, atol: float = 1e-4) -> Tensor:
    """A (batch, batch) row-stochastic matrix: non-negative rows that each sum to 1."""
    w = check_nonnegative_matrix(name, w, (batch, batch))
    row_sums = w.sum(dim=1)
    worst = float((row_sums - 1).abs().max())
    if worst > atol:
        raise LossInputError(
            f"every row of {name} must sum to 1 (a distribution), worst row is off by {worst:.3g}"
        )
    return w
