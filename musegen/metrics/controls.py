"""Broken controls: real music with one thing a listener would hear destroyed.

An evaluation earns trust by scoring such controls below real music. Each takes a real piece
(``NOTE_DTYPE``, LPD-5 track ids) and keeps everything but one property:

* ``scramble_tracks``: the track labels permuted within the piece. Rhythm, pitches and the
  instrument mix stay; a drum hit becomes a bass note and a bass note a string line. A
  whole-piece metric (step histogram, groove, on-beat rate) cannot see it; a per-instrument
  one must.
* ``break_key``: every bar's pitched notes moved by one random interval of 1-11 semitones
  (never an octave, so the bar really leaves the key), drawn per bar. Rhythm, instruments and
  each bar's own harmony stay; the piece wanders through keys.

Both draw from a ``numpy.random.Generator`` that the caller seeds per piece.
"""

from __future__ import annotations

import numpy as np

from musegen.data.note_timing import note_onsets
from musegen.data.tracks import LPD5_IS_DRUM

_IS_DRUM = np.asarray(LPD5_IS_DRUM, dtype=bool)


def scramble_tracks(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``notes`` with the ``track`` column randomly permuted."""
    out = np.array(notes, copy=True)
    out["track"] = rng.permutation(out["track"])
    return out


def break_key(
    notes: np.ndarray, rng: np.random.Generator, resolution: int = 24, beats_per_bar: int = 4
) -> np.ndarray:
    """A copy of ``notes`` with each bar's pitched notes transposed by a random 1-11
    semitones (drums unchanged). A note moved past the MIDI range goes an octave back, so
    its pitch class still changes by the bar's interval."""
    out = np.array(notes, copy=True)
    if out.size == 0:
        return out
    bar = note_onsets(out, resolution) // (beats_per_bar * resolution)  # (n,)
    bars, index = np.unique(bar, return_inverse=True)
    shift = rng.integers(1, 12, size=bars.size)[index]  # (n,) one interval per bar
    pitched = ~_IS_DRUM[out["track"]]
    moved = out["pitch"].astype(np.int64) + shift
    moved = np.where(moved > 127, moved - 12, moved)
    out["pitch"] = np.where(pitched, moved, out["pitch"]).astype(out["pitch"].dtype)
    return out
