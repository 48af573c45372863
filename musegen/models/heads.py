"""Output heads: what the next note is, from the backbone's hidden state.

Two kinds of timing head (``task.timing``):

* ``regression``, the paper's (after TensorFlow's music-generation tutorial): step and
  duration are plain linear outputs in beats, trained with mean squared error; the loss's
  positive pressure (``losses.mse_positive_pressure``) keeps them non-negative rather than a
  bounded activation, and decoding clamps them at 0. A regression predicts the mean of a
  distribution that has several peaks (chord notes at step 0, melody at 1/2 beat), so its
  notes fall between the real values.
* ``categorical``: step and duration are classes on the time grid (``time_classes``),
  predicted by softmax like the pitch, so a chord (step 0) or a note on the beat is one
  likely class rather than an average.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from musegen.models.note_encoder import N_PITCHES
from musegen.models.time_classes import ClassTables


class NotePrediction(NamedTuple):
    """The next note's prediction at every input position (or at the positions asked for)."""

    pitch: torch.Tensor  # (B, T, 128) logits
    step: torch.Tensor  # (B, T) beats (regression) or (B, T, n_step_classes) logits
    duration: torch.Tensor  # (B, T) beats (regression) or (B, T, n_duration_classes) logits
    track: torch.Tensor | None  # (B, T, n_tracks) logits; None with one track


class NoteHeads(nn.Module):
    """Linear heads for pitch (128-way), step, duration and, with several tracks, track.

    ``tables`` (a categorical timing head's classes) makes step and duration classifiers;
    without it they are the paper's regressions.
    """

    def __init__(self, hidden_size: int, n_tracks: int = 1, tables: ClassTables | None = None):
        super().__init__()
        self.categorical = tables is not None
        self.pitch = nn.Linear(hidden_size, N_PITCHES)
        if self.categorical:
            self.step = nn.Linear(hidden_size, tables.size("step"))
            self.duration = nn.Linear(hidden_size, tables.size("duration"))
        else:
            self.timing = nn.Linear(hidden_size, 2)  # step and duration, in beats
        self.track = nn.Linear(hidden_size, n_tracks) if n_tracks > 1 else None

    def forward(self, h: torch.Tensor) -> NotePrediction:
        """``h`` of shape ``(B, T, H)`` -> heads of shape ``(B, T, ...)``."""
        if self.categorical:
            step, duration = self.step(h), self.duration(h)  # (B, T, C_step), (B, T, C_dur)
        else:
            timing = self.timing(h)  # (B, T, 2)
            step, duration = timing[..., 0], timing[..., 1]  # (B, T) each
        return NotePrediction(
            pitch=self.pitch(h),  # (B, T, 128)
            step=step,
            duration=duration,
            track=self.track(h) if self.track is not None else None,  # (B, T, n_tracks)
        )
