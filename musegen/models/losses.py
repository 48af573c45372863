"""The paper's loss: pitch cross-entropy plus MSE with positive pressure on the timing.

The paper (Table "loss: 0.4019, pitch loss: 4.2135, step loss: 0.0321, duration loss: 0.1478")
follows TensorFlow's music-generation tutorial: total = 0.05 * pitch + 1 * step + 1 * duration.
The pitch weight is small because cross-entropy (~4 nats) dwarfs the timing errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from musegen.models.heads import NotePrediction

COMPONENTS = ("pitch", "step", "duration", "track")


def mse_positive_pressure(
    pred: torch.Tensor, target: torch.Tensor, pressure: float = 10.0
) -> torch.Tensor:
    """``mean((y - yhat)^2) + pressure * mean(max(-yhat, 0))``.

    Step and duration are never negative; the second term punishes negative predictions
    harder than the squared error alone would. Any shape; returns a scalar.
    """
    return F.mse_loss(pred, target) + pressure * torch.clamp_min(-pred, 0.0).mean()


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss components (paper: pitch 0.05, step 1, duration 1)."""

    pitch: float = 0.05
    step: float = 1.0
    duration: float = 1.0
    track: float = 1.0

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float] | None) -> LossWeights:
        weights = dict(weights or {})
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(
                f"task.loss_weights: unknown key(s) {sorted(unknown)}; valid: {list(COMPONENTS)}"
            )
        return cls(**{k: float(v) for k, v in weights.items()})


def note_losses(
    pred: NotePrediction,
    target: Mapping[str, torch.Tensor],
    weights: LossWeights,
    pressure: float = 10.0,
) -> dict[str, torch.Tensor]:
    """Each component and the weighted total, as scalars.

    ``pred`` and ``target`` cover the same positions: ``pred.pitch`` of shape ``(B, T, 128)``
    against ``target["pitch"]`` of shape ``(B, T)``, and so on. With one modelled track
    (``pred.track is None``) the track loss is 0.
    """
    pitch = F.cross_entropy(pred.pitch.flatten(0, -2), target["pitch"].flatten())
    step = mse_positive_pressure(pred.step, target["step"], pressure)
    duration = mse_positive_pressure(pred.duration, target["duration"], pressure)
    if pred.track is not None:
        track = F.cross_entropy(pred.track.flatten(0, -2), target["track"].flatten())
    else:
        track = pitch.new_zeros(())
    total = (
        weights.pitch * pitch
        + weights.step * step
        + weights.duration * duration
        + weights.track * track
    )
    return {
        "loss": total,
        "pitch_loss": pitch,
        "step_loss": step,
        "duration_loss": duration,
        "track_loss": track,
    }
