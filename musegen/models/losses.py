"""The training losses of both timing heads, every component logged on its own.

* ``regression`` (the paper's, after TensorFlow's music-generation tutorial): pitch (and
  track) cross-entropy plus mean squared error with positive pressure on step and duration,
  weighted pitch 0.05, step 1, duration 1 (the tutorial's weights: cross-entropy of about 4
  nats would otherwise dwarf timing errors of a fraction of a beat squared). The paper reports
  "loss: 0.4019, pitch loss: 4.2135, step loss: 0.0321, duration loss: 0.1478"; under these
  weights they add up to 0.3906, not 0.4019.
* ``categorical``: every field is a cross-entropy in nats (pitch, step class, duration
  class, track), summed with weights 1 by default, as the Multitrack Music Transformer
  (Dong et al. 2023) sums its fields' cross-entropies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from musegen.models.heads import NotePrediction
from musegen.models.time_classes import ClassTables

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
    """Weights of the loss components (defaults: the regression's, TensorFlow's tutorial)."""

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


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def note_losses(
    pred: NotePrediction,
    target: Mapping[str, torch.Tensor],
    weights: LossWeights,
    pressure: float = 10.0,
    tables: ClassTables | None = None,
) -> dict[str, torch.Tensor]:
    """Each component and the weighted total, as scalars, plus the exact-grid accuracy of
    step and duration, and with categorical timing the note NLL: the sum of the fields'
    cross-entropies in nats, whatever the weights.

    ``pred`` and ``target`` cover the same positions: ``pred.pitch`` of shape ``(B, T, 128)``
    against ``target["pitch"]`` of shape ``(B, T)``, and so on; ``target`` step and duration
    are in beats. With ``tables`` (categorical timing) they are compared as classes. With one
    modelled track (``pred.track is None``) the track loss is 0.
    """
    pitch = _cross_entropy(pred.pitch, target["pitch"])
    out: dict[str, torch.Tensor] = {"pitch_loss": pitch}
    for field in ("step", "duration"):
        if tables is not None:
            classes = tables.encode(field, target[field])  # (B, T)
            out[f"{field}_loss"] = _cross_entropy(pred[_INDEX[field]], classes)
            hit = pred[_INDEX[field]].argmax(-1) == classes
        else:
            value = pred[_INDEX[field]]  # (B, T) beats
            out[f"{field}_loss"] = mse_positive_pressure(value, target[field], pressure)
            hit = _grid(value.clamp_min(0)) == _grid(target[field])
        out[f"{field}_acc"] = hit.float().mean()
    if pred.track is not None:
        out["track_loss"] = _cross_entropy(pred.track, target["track"])
    else:
        out["track_loss"] = pitch.new_zeros(())
    if tables is not None:  # every field a cross-entropy: their sum is the note's NLL
        out["note_nll"] = (
            out["pitch_loss"] + out["step_loss"] + out["duration_loss"] + out["track_loss"]
        )
    out["loss"] = (
        weights.pitch * out["pitch_loss"]
        + weights.step * out["step_loss"]
        + weights.duration * out["duration_loss"]
        + weights.track * out["track_loss"]
    )
    return out


_INDEX = {"step": 1, "duration": 2}  # NotePrediction's fields


def _grid(beats: torch.Tensor, resolution: int = 24) -> torch.Tensor:
    return torch.round(beats.detach().double() * resolution).long()
