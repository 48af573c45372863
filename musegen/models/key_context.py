"""The key heard so far, as an input: each note's running pitch-class histogram.

A recurrent network must carry the key of a passage in its state from the notes it has
read; with 97 training songs in 11 transpositions (``experiment=lakh``) ours did not do it
reliably, and scale consistency varied from 0.84 to 0.93 over three seeds
(experiments/README.md, "Note model"). This feeds it the key directly: after each note, the
share of every pitch class (C, C#, ..., B) among the pitched notes read so far, projected to
``dim`` features and concatenated to the note encoder's. It is causal (a note's feature reads
that note and the ones before it) and costs a cumulative sum, so the whole window is computed
in one pass; incremental decoding carries the counts beside the backbone's state.

Drum notes carry no pitch class (their "pitch" names an instrument), and neither does the
neutral start note of a piece drawn from scratch (pitch 0, ``generation.decode``); both are
left out of the counts. The counts start at the first note of what the network reads: a
training window, a song window of the test pass, or generation's re-read of its last notes,
the same in all three.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from musegen.checks import at_least

PITCH_CLASSES = 12


class PitchClassContext(nn.Module):
    """``(pitch, track)`` of a note sequence -> ``(B, T, dim)`` features of the key so far.

    Parameters
    ----------
    dim : int
        Width of the features (``task.encoder.key_dim``).
    unpitched_track : int, optional
        The model's index of the drum track, whose notes are not counted.
    """

    def __init__(self, dim: int, unpitched_track: int | None = None) -> None:
        super().__init__()
        at_least(dim, "task.encoder.key_dim", 1)  # 0 (off) builds no key input at all
        self.unpitched_track = unpitched_track
        self.proj = nn.Linear(PITCH_CLASSES, dim)

    def counts(
        self, pitch: torch.Tensor, track: torch.Tensor | None, start: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Running pitch-class counts after each note, ``(B, T, 12)``, from ``start``
        ``(B, 12)`` (the counts before the first note; zeros when None)."""
        pitched = pitch > 0  # (B, T): not the neutral start note
        if self.unpitched_track is not None and track is not None:
            pitched = pitched & (track != self.unpitched_track)
        onehot = F.one_hot(pitch % PITCH_CLASSES, PITCH_CLASSES).float()  # (B, T, 12)
        running = (onehot * pitched[..., None]).cumsum(1)  # (B, T, 12)
        return running if start is None else running + start[:, None]

    def forward(
        self, pitch: torch.Tensor, track: torch.Tensor | None, start: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features ``(B, T, dim)`` and the counts after the last note ``(B, 12)``."""
        running = self.counts(pitch, track, start)  # (B, T, 12)
        shares = running / running.sum(-1, keepdim=True).clamp_min(1.0)  # (B, T, 12)
        return self.proj(shares), running[:, -1]
