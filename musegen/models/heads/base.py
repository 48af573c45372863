"""What every head design shares: the picking function it draws with, and turning drawn
classes into a note's values."""

from __future__ import annotations

from typing import Protocol

import torch

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
