"""The keys still sounding, as an input: after each note, which pitches are held at its onset.

A network that reads notes as (pitch, step, duration) must add up steps and durations to
know which notes still sound when it picks the next pitch; ours did not learn it. On Lakh
its pieces put two notes a semitone apart together in 23% of the sounding time against 4%
in the real songs (experiments/note_length/README.md, "Semitone clusters"), and a colder
pitch draw did not change that. This feeds it the answer: after note ``i``, the 128 pitches
of every pitched track that sound at its onset (a note ``j <= i`` whose end
``time_j + duration_j`` lies after ``time_i``; note ``i`` itself included), projected to
``dim`` features beside the encoder's, as ``key_context`` adds the key.

It is causal and vectorised: each pitch's latest end so far is a running maximum over the
window, so a window costs one ``cummax`` of ``(B, T, 128)``; incremental decoding carries the
128 latest ends beside the backbone's state. Drum notes and the neutral start note of a
piece drawn from scratch (pitch 0) are left out, as in ``key_context``. The ends start at
the first note the network reads, as the key's counts do: a training window, a song window
of the test pass, or generation's re-read of its last notes.
"""

from __future__ import annotations

import torch
from torch import nn

from musegen.checks import at_least

N_PITCHES = 128
NONE = -1.0
"""The end of a pitch not heard yet: before every onset (onsets are >= 0)."""


class SoundingContext(nn.Module):
    """``(pitch, track, time, duration)`` of a note sequence -> ``(B, T, dim)`` features of
    the pitches sounding at each note's onset.

    Parameters
    ----------
    dim : int
        Width of the features (``task.encoder.sounding_dim``).
    resolution : int
        Time steps per beat: durations arrive in beats, onsets in steps.
    unpitched_track : int, optional
        The model's index of the drum track, whose notes are left out.
    """

    def __init__(self, dim: int, resolution: int, unpitched_track: int | None = None) -> None:
        super().__init__()
        at_least(dim, "task.encoder.sounding_dim", 1)  # 0 (off) builds no input at all
        self.resolution = int(resolution)
        self.unpitched_track = unpitched_track
        self.proj = nn.Linear(N_PITCHES, dim)

    def ends(
        self,
        pitch: torch.Tensor,
        track: torch.Tensor | None,
        time: torch.Tensor,
        duration: torch.Tensor,
        start: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Each pitch's latest end in time steps after each note, ``(B, T, 128)`` (``NONE``
        where not heard), from ``start`` ``(B, 128)``, the ends before the first note."""
        pitched = pitch > 0  # (B, T): not the neutral start note
        if self.unpitched_track is not None and track is not None:
            pitched = pitched & (track != self.unpitched_track)
        end = time.to(torch.float32) + torch.round(duration.to(torch.float32) * self.resolution)
        end = torch.where(pitched, end, torch.full_like(end, NONE))  # (B, T)
        batch, length = pitch.shape
        if length == 1 and start is not None:  # a decoding step: one note onto the ends
            return start.scatter_reduce(1, pitch, end, "amax")[:, None]  # (B, 1, 128)
        latest = torch.full((batch, length, N_PITCHES), NONE, device=pitch.device)
        latest.scatter_(2, pitch[..., None], end[..., None])  # (B, T, 128): this note's end
        if start is not None:
            latest[:, 0] = torch.maximum(latest[:, 0], start)
        return latest.cummax(dim=1).values  # (B, T, 128)

    def forward(
        self,
        pitch: torch.Tensor,
        track: torch.Tensor | None,
        time: torch.Tensor,
        duration: torch.Tensor,
        start: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(B, T, dim)`` and the ends after the last note ``(B, 128)``."""
        latest = self.ends(pitch, track, time, duration, start)  # (B, T, 128)
        sounding = (latest > time[..., None].to(latest.dtype)).to(self.proj.weight.dtype)
        return self.proj(sounding), latest[:, -1]
