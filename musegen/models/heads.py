"""Output heads: what the next note is, from the backbone's hidden state.

Step and duration are plain linear regressions: the paper's loss pushes them to be
non-negative (``losses.mse_positive_pressure``) rather than a bounded activation, and
decoding clamps them at 0.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from musegen.models.note_encoder import N_PITCHES


class NotePrediction(NamedTuple):
    """The next note's prediction at every input position (or at the positions asked for)."""

    pitch: torch.Tensor  # (B, T, 128) logits
    step: torch.Tensor  # (B, T) beats, not yet clamped
    duration: torch.Tensor  # (B, T) beats, not yet clamped
    track: torch.Tensor | None  # (B, T, n_tracks) logits; None with one track


class NoteHeads(nn.Module):
    """Linear heads for pitch (128-way), step, duration and, with several tracks, track."""

    def __init__(self, hidden_size: int, n_tracks: int = 1) -> None:
        super().__init__()
        self.pitch = nn.Linear(hidden_size, N_PITCHES)
        self.timing = nn.Linear(hidden_size, 2)  # step and duration
        self.track = nn.Linear(hidden_size, n_tracks) if n_tracks > 1 else None

    def forward(self, h: torch.Tensor) -> NotePrediction:
        """``h`` of shape ``(B, T, H)`` -> heads of shape ``(B, T, ...)``."""
        timing = self.timing(h)  # (B, T, 2)
        return NotePrediction(
            pitch=self.pitch(h),  # (B, T, 128)
            step=timing[..., 0],  # (B, T)
            duration=timing[..., 1],  # (B, T)
            track=self.track(h) if self.track is not None else None,  # (B, T, n_tracks)
        )
