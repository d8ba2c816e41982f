"""Weight-space interpolation between a trained model and its base (WiSE-FT, Wortsman et al. 2022).

``α·trained + (1−α)·base``, parameter by parameter: fine-tuning gains are kept in part while the
base model's broader abilities (here: monolingual similarity and classification) come back. Cheap
and post-hoc: one α sweep needs no retraining.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError


def interpolate_weights(trained: torch.nn.Module, base: torch.nn.Module, alpha: float) -> torch.nn.Module:
    """Set ``trained``'s floating-point weights and buffers to ``α·trained + (1−α)·base`` in place.

    Both models must have the same architecture (same state-dict names and shapes); integer buffers
    (position ids) are left as they are. Returns ``trained``.
    """
    if not 0 <= alpha <= 1:
        raise ConfigError(f"interpolation weight alpha must be in [0, 1], got {alpha}")
    mine, theirs = trained.state_dict(), base.state_dict()
    missing = sorted(set(mine) ^ set(theirs))
    if missing:
        raise ConfigError(
            f"cannot interpolate: the models differ in {len(missing)} weight(s), e.g. {missing[0]!r}"
        )
    with torch.no_grad():
        for name, value in mine.items():
            other = theirs[name]
            if value.shape != other.shape:
                raise ConfigError(
                    f"cannot interpolate: {name} has shape {tuple(value.shape)} here and "
                    f"{tuple(other.shape)} in the base model"
                )
            if value.is_floating_point():
                value.mul_(alpha).add_(other.to(value.device, value.dtype), alpha=1 - alpha)
    return trained
