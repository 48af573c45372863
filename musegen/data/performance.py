"""How notes are played: the tempo, with its changes, and the velocity.

A note array (``pianoroll_notes.NOTE_DTYPE``) places notes in time steps of a beat; how
many seconds a beat lasts is the song's tempo. LPD stores a tempo for every time step
(``lpd_io.Song.tempo``); here a song's tempo is kept as its changes, a ``TEMPO_DTYPE`` array
sorted by time whose first entry sits at step 0: a map of a few entries instead of an array
as long as the song. The note cache keeps each song's map, so a primed piece is written at
its primer's tempo and a real excerpt at its own.

``Performance`` is what a trained model plays by default where the music it continues does
not say: the training songs' median tempo (for pieces from scratch) and each track's median
velocity (for tracks the primer does not play). Checkpoints store it beside the weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musegen.data.note_timing import RESOLUTION
from musegen.data.tracks import LPD5_TRACKS

TEMPO_DTYPE = np.dtype([("time", np.int64), ("qpm", np.float64)])
"""One tempo change: from time step ``time`` on, ``qpm`` quarter notes per minute."""

DEFAULT_QPM = 120.0
"""MIDI's tempo before the first tempo event (500,000 us per quarter note)."""

DEFAULT_VELOCITY = 100
"""The velocity of a generated note when nothing tells another: what LPD's binarised files
are read with (``pianoroll_notes.roll_runs``)."""

RELATIVE_TOLERANCE = 1e-6
"""Per-step tempos closer than this (relative) are one tempo: LPD's float arrays carry
rounding noise in the last bits."""


def tempo_map(qpm: float = DEFAULT_QPM) -> np.ndarray:
    """A constant tempo: one change at step 0, ``shape=(1,), TEMPO_DTYPE``."""
    out = np.zeros(1, dtype=TEMPO_DTYPE)
    out["qpm"] = float(qpm)
    return out


def from_steps(per_step: np.ndarray | None) -> np.ndarray:
    """A per-step tempo array (``Song.tempo``, qpm, ``shape=(T,)``) as its changes.

    ``None``, an empty array or non-finite values fall back to ``DEFAULT_QPM`` where they sit.
    """
    if per_step is None or len(per_step) == 0:
        return tempo_map()
    qpm = np.asarray(per_step, dtype=np.float64).reshape(-1)
    qpm = np.where(np.isfinite(qpm) & (qpm > 0), qpm, DEFAULT_QPM)
    change = np.abs(np.diff(qpm)) > RELATIVE_TOLERANCE * qpm[:-1]
    at = np.concatenate([[0], np.flatnonzero(change) + 1])
    out = np.empty(at.size, dtype=TEMPO_DTYPE)
    out["time"], out["qpm"] = at, qpm[at]
    return out


def to_steps(tempo: np.ndarray, n_steps: int) -> np.ndarray:
    """The map as a per-step array (``Song.tempo``): float64, ``shape=(n_steps,)``."""
    tempo = as_map(tempo)
    at = np.searchsorted(tempo["time"], np.arange(n_steps), side="right") - 1
    return tempo["qpm"][np.maximum(at, 0)]


def as_map(tempo: float | np.ndarray | None) -> np.ndarray:
    """A tempo map from a number (a constant tempo), a map, or None (``DEFAULT_QPM``).

    Raises
    ------
    ValueError
        A map that is empty, unsorted, not starting at step 0, or with a tempo <= 0.
    """
    if tempo is None:
        return tempo_map()
    if np.isscalar(tempo) or np.ndim(tempo) == 0:
        value = float(tempo)  # type: ignore[arg-type]
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"tempo must be a number > 0 (qpm), got {tempo!r}")
        return tempo_map(value)
    tempo = np.asarray(tempo)
    if tempo.dtype != TEMPO_DTYPE:
        tempo = np.asarray(tempo).astype(TEMPO_DTYPE)
    if tempo.size == 0 or tempo["time"][0] != 0 or np.any(np.diff(tempo["time"]) <= 0):
        raise ValueError("a tempo map starts at step 0 and its times increase")
    if not (np.isfinite(tempo["qpm"]).all() and (tempo["qpm"] > 0).all()):
        raise ValueError("a tempo map's tempos must be numbers > 0 (qpm)")
    return tempo


def excerpt(tempo: np.ndarray, start: int, end: int | None = None) -> np.ndarray:
    """The map of the steps ``[start, end)`` moved so that ``start`` is step 0: the tempo in
    force at ``start`` first, then the changes inside."""
    tempo = as_map(tempo)
    first = int(np.searchsorted(tempo["time"], start, side="right")) - 1
    inside = tempo[first + 1 :]
    if end is not None:
        inside = inside[inside["time"] < end]
    out = np.concatenate([tempo[first : first + 1], inside])
    out["time"] -= start
    out["time"][0] = 0
    return out


def main_qpm(tempo: np.ndarray, n_steps: int) -> float:
    """The tempo that lasts the most steps of ``[0, n_steps)`` (the earlier on a tie): a
    song's one tempo for a median over songs."""
    tempo = as_map(tempo)
    ends = np.append(tempo["time"][1:], max(int(n_steps), int(tempo["time"][-1]) + 1))
    lasts = np.clip(ends, 0, max(int(n_steps), 1)) - np.clip(tempo["time"], 0, max(n_steps, 1))
    return float(tempo["qpm"][int(np.argmax(lasts))])


def seconds(tempo: np.ndarray, n_steps: int, resolution: int = RESOLUTION) -> float:
    """How long ``n_steps`` time steps last at this tempo, in seconds."""
    tempo = as_map(tempo)
    ends = np.append(tempo["time"][1:], max(int(n_steps), int(tempo["time"][-1])))
    steps = np.clip(np.minimum(ends, n_steps) - tempo["time"], 0, None)
    return float(np.sum(steps / resolution * 60.0 / tempo["qpm"]))


def velocity_counts(track: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """How many notes of each LPD-5 track have each velocity, from two note columns
    (``shape=(n,)``): int64, ``shape=(5, 128)``. Counts of chunks add up, so memory-mapped
    columns of millions of notes are counted in pieces, never sorted."""
    index = np.asarray(track, dtype=np.int64) * 128 + np.asarray(velocity, dtype=np.int64)
    counts = np.bincount(index, minlength=len(LPD5_TRACKS) * 128)
    return counts[: len(LPD5_TRACKS) * 128].reshape(len(LPD5_TRACKS), 128)


def median_velocities(counts: np.ndarray) -> dict[int, int]:
    """The median velocity of each track that has notes (``velocity_counts``), the middle
    two values' mean rounded half up for an even count."""
    out = {}
    for tid, hist in enumerate(np.asarray(counts)):
        total = int(hist.sum())
        if total:
            cdf = np.cumsum(hist)
            lo = int(np.searchsorted(cdf, (total + 1) // 2))  # the lower middle value
            hi = int(np.searchsorted(cdf, total // 2 + 1))  # the upper middle value
            out[tid] = max(1, math.floor((lo + hi) / 2 + 0.5))
    return out


@dataclass(frozen=True)
class Performance:
    """What a trained model plays where the music does not say: the training songs' median
    tempo and each track's median velocity (LPD-5 names).

    ``source`` says where it came from, for the records that state it.
    """

    tempo: float = DEFAULT_QPM
    velocity: Mapping[str, int] = field(default_factory=dict)
    source: str = "musegen's defaults (120 qpm, velocity 100): the checkpoint stores none"

    def velocity_of(self, track: int) -> int:
        """The velocity of LPD-5 track ``track`` (``DEFAULT_VELOCITY`` if none is known)."""
        return int(self.velocity.get(LPD5_TRACKS[track], DEFAULT_VELOCITY))

    def velocities(self, primer: np.ndarray | None = None) -> np.ndarray:
        """A velocity per LPD-5 track for the notes drawn after ``primer``, int64,
        ``shape=(5,)``: the primer track's median velocity where the primer plays the track;
        else this one's, brought into the primer's velocity range. A continuation then never
        jumps in loudness at the primer's end: nothing it adds plays louder or softer than
        the primer did."""
        out = np.array([self.velocity_of(t) for t in range(len(LPD5_TRACKS))], dtype=np.int64)
        if primer is None or len(primer) == 0:
            return out
        velocity = np.asarray(primer["velocity"], dtype=np.int64)
        out = np.clip(out, velocity.min(), velocity.max())
        counts = velocity_counts(primer["track"], velocity)
        for tid, value in median_velocities(counts).items():
            out[tid] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values: what checkpoints store."""
        return {"tempo": self.tempo, "velocity": dict(self.velocity), "source": self.source}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> Performance:
        """A stored one, or the defaults (saying so) when a checkpoint has none."""
        if not value:
            return cls()
        return cls(
            tempo=float(value["tempo"]),
            velocity={str(k): int(v) for k, v in dict(value.get("velocity") or {}).items()},
            source=str(value.get("source", "the checkpoint")),
        )

    @classmethod
    def of_songs(cls, main_qpm: Sequence[float], counts: np.ndarray, what: str) -> Performance:
        """The medians of songs: of each song's main tempo (``main_qpm``), and of each
        track's velocities (``velocity_counts`` of their notes); ``what`` names the songs."""
        qpm = np.asarray(main_qpm, dtype=np.float64)
        tempo = float(np.median(qpm)) if qpm.size else DEFAULT_QPM
        velocity = {LPD5_TRACKS[t]: v for t, v in median_velocities(counts).items()}
        return cls(round(tempo, 3), velocity, f"the median of the {what}")
