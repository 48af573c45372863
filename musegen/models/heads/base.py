"""What every head design shares: the picking function it draws with, and turning drawn
classes into a note's values."""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from musegen.fields import CLASSED_FIELDS
from musegen.models.time_classes import ClassTables


class Pick(Protocol):
    """Draws one value per row of a field's logits (``generation.sampling.Picker``).

    ``drawn`` holds the fields of the same notes drawn so far (model track indices, class
    indices), so that a rule may depend on the track. ``track_first``: the picker needs the
    track before the other fields (a per-track rule), where the design allows it.
    """

    track_first: bool
    generator: torch.Generator  # its only source of randomness
    allowed: list[int] | None  # the model's tracks that may be drawn (None: every one)

    def __call__(
        self, field: str, logits: torch.Tensor, drawn: dict[str, torch.Tensor]
    ) -> torch.Tensor: ...


def decode_fields(
    drawn: dict[str, torch.Tensor], tables: ClassTables | None
) -> dict[str, torch.Tensor]:
    """Drawn classes -> the note's values: step and duration classes to beats (categorical
    timing), a velocity class to its velocity, the rest as drawn (pitch, track index)."""
    out = dict(drawn)
    if tables is not None:
        for field in CLASSED_FIELDS:
            if field in drawn:
                out[field] = tables.decode(field, drawn[field])
    return out


class VelocityReadout(nn.Module):
    """A velocity head that reads more than it teaches (``HeadsConfig.velocity="readout"``).

    ``u = W GELU(P h' + g)``, with the embeddings ``g`` of the fields drawn before it
    (chained heads) detached, and the backbone's state ``h`` passed on whole but with its
    gradient scaled by ``grad`` (``h' = grad * h + (1 - grad) * stop_gradient(h)``): at 0 the
    velocity's loss trains ``P`` and ``W`` only. A file's dynamics are its own; trained fully
    through the shared state, they cost the other fields 0.4-0.6 nats of test note NLL on
    Lakh (models/config.py, ``VELOCITY_HEADS``).
    """

    def __init__(self, hidden_size: int, width: int, n_classes: int, grad: float = 0.0) -> None:
        super().__init__()
        self.project = nn.Linear(hidden_size, width)
        self.out = nn.Linear(width, n_classes)
        self.grad = float(grad)

    def forward(self, h: torch.Tensor, given: torch.Tensor | None = None) -> torch.Tensor:
        """``h`` ``(..., H)``, ``given`` ``(..., W)`` or None -> logits ``(..., V)``."""
        state = h.detach()
        if self.grad:
            state = state + self.grad * (h - state)  # the same values; a scaled gradient
        x = F.linear(state, self.project.weight, self.project.bias)
        if given is not None:
            x = x + given.detach()
        return F.linear(F.gelu(x), self.out.weight, self.out.bias)
