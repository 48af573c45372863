"""Input embedding of a note: pitch and track embeddings beside its timing.

Step and duration are in beats with a long tail (rests of many bars), so they enter as
``log1p`` of their value: a 16-beat rest must not swamp a 0.25-beat step in the same input.
"""

from __future__ import annotations

import torch
from torch import nn

N_PITCHES = 128


class NoteEncoder(nn.Module):
    """Map a note sequence to feature vectors of size ``out_dim``.

    Parameters
    ----------
    n_tracks : int
        Modelled tracks; with one track there is nothing to embed and none is used.
    pitch_dim, track_dim : int
        Embedding sizes.
    time_dim : int
        0 feeds the two ``log1p`` timing scalars as they are; ``> 0`` projects them to
        ``time_dim`` features (Linear + tanh) first.
    """

    def __init__(
        self, n_tracks: int = 1, pitch_dim: int = 64, track_dim: int = 8, time_dim: int = 0
    ) -> None:
        super().__init__()
        self.n_tracks = n_tracks
        self.pitch_emb = nn.Embedding(N_PITCHES, pitch_dim)
        self.track_emb = nn.Embedding(n_tracks, track_dim) if n_tracks > 1 else None
        self.time_proj = nn.Sequential(nn.Linear(2, time_dim), nn.Tanh()) if time_dim > 0 else None
        self.out_dim = (
            pitch_dim + (track_dim if self.track_emb is not None else 0) + (time_dim or 2)
        )

    def forward(
        self,
        pitch: torch.Tensor,
        step: torch.Tensor,
        duration: torch.Tensor,
        track: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Notes as ``(B, T)`` tensors (pitch, track int64; timing float) -> ``(B, T, out_dim)``."""
        timing = torch.stack([step, duration], dim=-1).clamp_min(0).log1p()  # (B, T, 2)
        if self.time_proj is not None:
            timing = self.time_proj(timing)  # (B, T, time_dim)
        parts = [self.pitch_emb(pitch), timing]  # (B, T, pitch_dim), (B, T, time)
        if self.track_emb is not None:
            if track is None:
                raise ValueError(f"track indices are required with {self.n_tracks} tracks")
            parts.append(self.track_emb(track))  # (B, T, track_dim)
        return torch.cat(parts, dim=-1)  # (B, T, out_dim)
