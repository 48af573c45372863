"""The kept music ahead, as an input: the next note of an accompaniment's kept tracks.

Accompanying a melody, the decoder knows every kept note to the piece's end; a network that
reads notes only up to the one it draws cannot tell that the melody rests for a bar, and
draws the melody where it expects it (``data.ahead``, "why"). Here each note's input also
says what the kept tracks play next (``data.ahead.next_kept``): whether a kept note starts
within ``HORIZON_BEATS``, how far ahead (``log1p`` of beats) and whether at the note's own
onset, its pitch class and height and its track; and which tracks are kept at all (a flag a
track). Projected to ``dim`` features beside the encoder's, as ``texture_context`` feeds a
track's texture.

A note without these inputs (generation without kept tracks, validation and test, a plain
training window) reads them as none kept: the same features as a window that keeps no track.
They are given, not carried: incremental decoding needs no state for them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from musegen.checks import at_least
from musegen.fields import NO_KEPT_NOTE as NONE

HORIZON_BEATS = 4
"""How far ahead a kept note is read (one 4-beat bar); a later one reads as none within
reach, which says the kept music rests for at least a bar."""
FIXED_FEATURES = 1 + 1 + 1 + 12 + 1
"""Within reach, log1p(beats ahead), at the same onset, the pitch class (12), the height."""


class AheadContext(nn.Module):
    """A note sequence's ``ahead_*`` and ``kept_tracks`` inputs -> ``(B, T, dim)`` features.

    Parameters
    ----------
    dim : int
        Width of the features (``task.encoder.ahead_dim``).
    n_tracks : int
        The model's tracks.
    resolution : int
        Time steps per beat of the gaps.
    """

    def __init__(self, dim: int, n_tracks: int, resolution: int) -> None:
        super().__init__()
        at_least(dim, "task.encoder.ahead_dim", 1)  # 0 (off) builds no input at all
        self.n_tracks, self.resolution = int(n_tracks), int(resolution)
        self.proj = nn.Linear(FIXED_FEATURES + 2 * self.n_tracks, dim)

    def features(self, notes: Mapping[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        """The unprojected features ``(B, T, F)``; ``like``: a ``(B, T)`` tensor of the
        sequence (its shape and device where the notes carry no ``ahead_*``)."""
        gap = notes.get("ahead_gap")
        if gap is None:
            return torch.zeros(*like.shape, self.proj.in_features, device=like.device)
        gap = gap.long()
        near = (gap != NONE) & (gap <= HORIZON_BEATS * self.resolution)  # (B, T)
        on = near.to(torch.float32)[..., None]  # (B, T, 1)
        beats = gap.clamp_min(0).to(torch.float32) / self.resolution
        pitch = notes["ahead_pitch"].long()
        shifts = torch.arange(self.n_tracks, device=gap.device)
        bits = notes["kept_tracks"].long()[..., None] >> shifts  # (B, T, K)
        parts = [
            on,
            on * torch.log1p(beats)[..., None],
            on * (gap == 0).to(torch.float32)[..., None],
            on * nn.functional.one_hot(pitch % 12, 12).to(torch.float32),
            on * (pitch.to(torch.float32) / 127.0)[..., None],
            on * nn.functional.one_hot(notes["ahead_track"].long(), self.n_tracks).float(),
            (bits & 1).to(torch.float32),  # (B, T, K): the kept tracks
        ]
        return torch.cat(parts, dim=-1)

    def forward(self, notes: Mapping[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        """``(B, T, dim)`` features of the kept music ahead of each note."""
        return self.proj(self.features(notes, like).to(self.proj.weight.dtype))
