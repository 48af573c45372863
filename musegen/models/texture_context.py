"""Each track's texture so far, as an input: how many notes a beat it plays, and how long.

Continuing a Lakh song, our networks wrote every song's parts alike. On a validation song
whose primer's Strings hold chords of 3.7 beats, ``experiment=lakh``'s seed 1 wrote 146
Strings notes of 0.49 beat where the song plays 36 of 3.5; the rank correlation over songs
between a track's real mean note length and the model's was 0.05 on the test songs, 3 seeds
(experiments/note_length/README.md, "Texture"). How dense and how held a song's parts
are is the song's own, read from its notes: this feeds it in directly, as ``key_context``
feeds the key. After each note, per track: whether the track has played yet, its notes per
beat since the first note read (the note's own beat counted), and the mean log2 of its
notes' durations in beats (0 where it has not played), projected to ``dim`` features beside
the encoder's.

It is causal and vectorised, one cumulative sum over the window; incremental decoding carries
the per-track counts, the log-duration sums and the first onset beside the backbone's state.
Drum notes count (their density is the groove's); the neutral start note of a piece drawn
from scratch (pitch 0) does not. The sums start at the first note the network reads: a
training window, a song window of the test pass, or generation's re-read of its last notes,
as the key's counts do.
"""

from __future__ import annotations

import torch
from torch import nn

from musegen.checks import at_least

FEATURES_PER_TRACK = 3
"""Played yet (0/1), notes per beat, mean log2 duration (beats)."""


class TextureContext(nn.Module):
    """``(pitch, track, time, duration)`` of a note sequence -> ``(B, T, dim)`` features of
    each track's density and note length so far.

    Parameters
    ----------
    dim : int
        Width of the features (``task.encoder.texture_dim``).
    n_tracks : int
        The model's tracks.
    resolution : int
        Time steps per beat: onsets arrive in steps, durations in beats.
    """

    def __init__(self, dim: int, n_tracks: int, resolution: int) -> None:
        super().__init__()
        at_least(dim, "task.encoder.texture_dim", 1)  # 0 (off) builds no input at all
        self.n_tracks = int(n_tracks)
        self.resolution = int(resolution)
        self.proj = nn.Linear(FEATURES_PER_TRACK * self.n_tracks, dim)

    def sums(
        self,
        pitch: torch.Tensor,
        track: torch.Tensor,
        time: torch.Tensor,
        duration: torch.Tensor,
        start: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """After each note: each track's notes ``(B, T, K)``, the sum of their log2
        durations ``(B, T, K)``, and the first onset read ``(B, T)`` (steps), from ``start``:
        the three after the last note of an earlier call (``(B, K)``, ``(B, K)``, ``(B,)``)."""
        counted = (pitch > 0).to(torch.float32)  # (B, T): not the neutral start note
        onehot = nn.functional.one_hot(track.long(), self.n_tracks).to(torch.float32)
        onehot = onehot * counted[..., None]  # (B, T, K)
        log_len = torch.log2(duration.to(torch.float32).clamp_min(1.0 / self.resolution))
        count = onehot.cumsum(1)  # (B, T, K)
        log_sum = (onehot * log_len[..., None]).cumsum(1)  # (B, T, K)
        first = time[:, :1].to(torch.float32).expand_as(count[..., 0])  # (B, T)
        if start is not None:
            count = count + start[0][:, None]
            log_sum = log_sum + start[1][:, None]
            first = start[2][:, None].expand_as(first)
        return count, log_sum, first

    def forward(
        self,
        pitch: torch.Tensor,
        track: torch.Tensor,
        time: torch.Tensor,
        duration: torch.Tensor,
        start: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Features ``(B, T, dim)`` and the sums after the last note (``start`` of the next
        call)."""
        count, log_sum, first = self.sums(pitch, track, time, duration, start)
        beats = (time.to(torch.float32) - first) / self.resolution + 1.0  # (B, T), >= 1
        features = torch.cat(
            [
                (count > 0).to(torch.float32),
                count / beats[..., None],
                log_sum / count.clamp_min(1.0),
            ],
            dim=-1,
        )  # (B, T, 3K)
        carry = (count[:, -1], log_sum[:, -1], first[:, -1])
        return self.proj(features.to(self.proj.weight.dtype)), carry
