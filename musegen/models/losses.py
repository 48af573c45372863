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

from musegen.checks import check, number
from musegen.data.note_timing import RESOLUTION
from musegen.fields import NOTE_FIELDS, PREDICTED_FIELDS, TIME_FIELDS, VELOCITY
from musegen.models.time_classes import ClassTables

COMPONENTS = PREDICTED_FIELDS
"""The loss's components: one per field a head may predict (``fields``)."""


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
    velocity: float = 1.0

    @classmethod
    def from_mapping(
        cls, weights: Mapping[str, float] | None, key: str = "task.loss_weights"
    ) -> LossWeights:
        """The weights a config sets (the others default), each checked: ``key`` is where
        they sit in the config, for the one-line error."""
        weights = dict(weights or {})
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"{key}: unknown key(s) {sorted(unknown)}; valid: {list(COMPONENTS)}")
        for name, value in weights.items():
            check(value, f"{key}.{name}", number(0.0), "a number >= 0")
        return cls(**{k: float(v) for k, v in weights.items()})


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def note_losses(
    pred: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    weights: LossWeights,
    pressure: float = 10.0,
    tables: ClassTables | None = None,
    resolution: int = RESOLUTION,
) -> dict[str, torch.Tensor]:
    """Each field's loss (``<field>_loss``) and the weighted total (``loss``), as scalars,
    plus the exact-grid accuracy of step and duration, and with categorical timing the note
    NLL: the sum of the note fields' cross-entropies in nats, whatever the weights. A
    modelled velocity adds ``velocity_loss`` (its NLL, beside the note NLL, not in it) and
    its weighted share of ``loss``.

    ``pred`` (a head design's output, ``{field: (..., V)}``; regressed step and duration
    ``(...)`` beats) and ``target`` (``{field: (...)}``, step and duration in beats) cover the
    same positions. With ``tables`` (categorical timing) step and duration are compared as
    classes; without, their accuracy is that of the regressed beats rounded to the
    ``resolution`` grid. With one modelled track (no ``track`` in ``pred``) the track loss is
    0.
    """
    out: dict[str, torch.Tensor] = {}
    for field in NOTE_FIELDS:
        if field not in pred:  # one track: nothing to predict
            out[f"{field}_loss"] = pred["pitch"].new_zeros(())
        elif field in TIME_FIELDS and tables is None:
            value = pred[field]  # (...) beats
            out[f"{field}_loss"] = mse_positive_pressure(value, target[field], pressure)
            hit = _grid(value.clamp_min(0), resolution) == _grid(target[field], resolution)
            out[f"{field}_acc"] = hit.float().mean()
        else:
            classes = tables.classes_of(field, target) if field in TIME_FIELDS else target[field]
            out[f"{field}_loss"] = _cross_entropy(pred[field], classes)
            out[f"{field}_acc"] = (pred[field].argmax(-1) == classes).float().mean()
    out.pop("track_acc", None)
    if tables is not None:  # every field a cross-entropy: their sum is the note's NLL
        out["note_nll"] = sum(out[f"{f}_loss"] for f in NOTE_FIELDS)
    out["loss"] = sum(getattr(weights, f) * out[f"{f}_loss"] for f in NOTE_FIELDS)
    if VELOCITY in pred:  # how loud: scored beside the note, trained with it
        classes = tables.encode(VELOCITY, target[VELOCITY])
        out["velocity_loss"] = _cross_entropy(pred[VELOCITY], classes)
        out["loss"] = out["loss"] + weights.velocity * out["velocity_loss"]
    return out


def _grid(beats: torch.Tensor, resolution: int) -> torch.Tensor:
    return torch.round(beats.detach().double() * resolution).long()
