"""The kept music ahead: after each note, the next note of the kept tracks (``data.ahead``).

An accompaniment keeps some tracks note for note and draws the others around them
(``generation.accompany``). A left-to-right network reads the kept notes only up to the one
it draws: it cannot know that the melody rests for a bar, so where it expects the melody it
draws it, the decoder feeds the next kept note instead, and the drawn parts skip the rest
(experiments/accompaniment/lakh/README.md, "Decoding"). The Anticipatory Music Transformer
(Thickstun et al., 2023) moves the kept notes earlier in the training sequence so that the
network sees them ahead. Here the sequence stays as it is and each note carries, as an input,
the next note of the kept tracks after it: how far ahead it starts (time steps; -1: none),
its pitch and its track, and which tracks are kept (a bit per model track). The network
(``models.ahead_context``) reads them beside the note.

Training draws the kept tracks per window (``kept_tracks``): with probability ``ahead`` a
window keeps each of the model's tracks with probability 1/2, else none (a plain window, as
generation without accompaniment reads). The next kept note is looked for up to
``AHEAD_NOTES`` notes past the window, within the song; validation and test keep none, so
their note NLL is the plain task's.
"""

from __future__ import annotations

import torch

from musegen.fields import NO_KEPT_NOTE as NONE

AHEAD_NOTES = 96
"""Notes past a training window that the next kept note is looked for in: the network reads
a kept note up to ``models.ahead_context.HORIZON_BEATS`` ahead, and five-track Lakh plays
about 32 notes a bar."""


def kept_tracks(
    n_rows: int, n_tracks: int, share: float, generator: torch.Generator
) -> torch.Tensor:
    """Which tracks each row keeps, bool ``(n_rows, n_tracks)``: with probability ``share``
    a row keeps each track with probability 1/2, else none."""
    rows = torch.rand(n_rows, generator=generator) < share  # (R,)
    tracks = torch.rand(n_rows, n_tracks, generator=generator) < 0.5  # (R, K)
    return tracks & rows[:, None]


def track_bits(kept: torch.Tensor) -> torch.Tensor:
    """The kept tracks ``(R, K)`` bool as one integer a row ``(R,)``: bit ``k`` for track
    ``k`` (``kept_tracks``, the network's input)."""
    weights = 2 ** torch.arange(kept.shape[-1], device=kept.device)  # (K,)
    return (kept.long() * weights).sum(-1)


def next_kept(
    time: torch.Tensor,
    pitch: torch.Tensor,
    track: torch.Tensor,
    is_kept: torch.Tensor,
    length: int,
) -> dict[str, torch.Tensor]:
    """For each of the first ``length`` notes of rows of notes ``(R, N)`` (onsets in steps,
    pitches, model tracks; ``is_kept``: bool, the notes of a kept track, False past a song's
    end): the next kept note after it in the row, as ``ahead_gap`` (its onset minus the
    note's, ``NONE`` where there is none), ``ahead_pitch`` and ``ahead_track`` (0 where
    none), each ``(R, length)``."""
    n = time.shape[1]
    position = torch.arange(n, device=time.device).expand_as(time)  # (R, N)
    at = torch.where(is_kept, position, n)  # (R, N): a kept note's own position, else n
    first = at.flip(1).cummin(1).values.flip(1)  # (R, N): the first kept note at or after j
    after = torch.cat([first[:, 1:], torch.full_like(first[:, :1], n)], 1)[:, :length]
    found = after < n  # (R, length)
    index = after.clamp_max(n - 1)
    gap = time.gather(1, index) - time[:, :length]
    return {
        "ahead_gap": torch.where(found, gap, NONE),
        "ahead_pitch": torch.where(found, pitch.gather(1, index), 0),
        "ahead_track": torch.where(found, track.gather(1, index), 0),
    }
