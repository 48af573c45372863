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

Two controls of form, for the evaluation over time (``metrics.bars``, ``metrics.structure``),
act on whole bars ``[lo, hi)`` that the caller chooses (``bars.BarLayout.movable``) and leave
the notes before ``lo`` in place:

* ``shuffle_bars``: those bars in a random order. Every bar stays a real bar, so every
  per-bar statistic stays real (and every whole-piece one); the form is gone.
* ``loop_bar``: one of those bars, drawn at random among the non-empty ones, repeated from
  ``lo`` on: real bars, far too much repetition.

All draw from a ``numpy.random.Generator`` that the caller seeds per piece.
"""

from __future__ import annotations

import numpy as np

from musegen.data.note_timing import RESOLUTION, note_onsets
from musegen.data.tracks import IS_DRUM


def scramble_tracks(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``notes`` with the ``track`` column randomly permuted."""
    out = np.array(notes, copy=True)
    out["track"] = rng.permutation(out["track"])
    return out


def break_key(
    notes: np.ndarray,
    rng: np.random.Generator,
    resolution: int = RESOLUTION,
    beats_per_bar: int = 4,
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
    pitched = ~IS_DRUM[out["track"]]
    moved = out["pitch"].astype(np.int64) + shift
    moved = np.where(moved > 127, moved - 12, moved)
    out["pitch"] = np.where(pitched, moved, out["pitch"]).astype(out["pitch"].dtype)
    return out


def _retimed(notes: np.ndarray, onset: np.ndarray, before: float, resolution: int) -> np.ndarray:
    """``notes`` moved to the onsets ``onset`` (time steps), in time, track, pitch order, with
    steps that agree; the first counts from ``before``, the onset of the note that came before
    the piece (a primer's last; 0 for a piece from scratch), and is never negative."""
    out = np.array(notes, copy=True)
    if out.size == 0:
        return out
    out["time"] = onset
    out = out[np.lexsort((out["pitch"], out["track"], out["time"]))]
    out["step"][0] = max((int(out["time"][0]) - before) / resolution, 0.0)
    out["step"][1:] = np.diff(out["time"]) / resolution
    return out


def _before(notes: np.ndarray, onset: np.ndarray, resolution: int) -> float:
    """The onset, in time steps, that the piece's first step counts from."""
    return float(onset[0] - notes["step"][0] * resolution) if notes.size else 0.0


def shuffle_bars(
    notes: np.ndarray,
    rng: np.random.Generator,
    lo: int,
    hi: int,
    resolution: int = RESOLUTION,
    beats_per_bar: int = 4,
) -> np.ndarray:
    """A copy of ``notes`` with the bars ``[lo, hi)`` (absolute bar numbers, empty bars
    included) in a random order: bar ``lo + j`` moves to ``lo + perm[j]``. Each note keeps
    its place in its bar; notes outside those bars stay."""
    notes = np.asarray(notes)
    bar_steps = beats_per_bar * resolution
    onset = note_onsets(notes, resolution)
    bar = onset // bar_steps
    perm = rng.permutation(max(hi - lo, 0))  # (hi - lo,)
    moved = (bar >= lo) & (bar < hi)
    target = bar.copy()
    target[moved] = lo + perm[bar[moved] - lo]
    return _retimed(
        notes, target * bar_steps + onset % bar_steps, _before(notes, onset, resolution), resolution
    )


def loop_bar(
    notes: np.ndarray,
    rng: np.random.Generator,
    lo: int,
    hi: int,
    resolution: int = RESOLUTION,
    beats_per_bar: int = 4,
) -> np.ndarray:
    """A copy of ``notes`` whose notes from bar ``lo`` on are replaced by one bar looped.

    The bar is drawn among the non-empty bars of ``[lo, hi)``, else among all the piece's
    non-empty bars. It is repeated from bar ``lo`` for as many bars as ``[lo, hi)`` spans,
    or as it takes to hold as many notes as the piece had from ``lo`` on, whichever is more:
    the caller cuts the result to the real piece's length (bars or notes). A note that lasts
    past its bar overlaps the next repetition.
    """
    notes = np.asarray(notes)
    if notes.size == 0:
        return np.array(notes, copy=True)
    bar_steps = beats_per_bar * resolution
    onset = note_onsets(notes, resolution)
    bar = onset // bar_steps
    filled = np.unique(bar)
    inner = filled[(filled >= lo) & (filled < hi)]
    chosen = int(rng.choice(inner if inner.size else filled))
    one = bar == chosen
    size = int(one.sum())
    repeats = max(hi - lo, -(-int((bar >= lo).sum()) // size), 1)
    keep = bar < lo
    shift = np.repeat(np.arange(repeats, dtype=np.int64) + lo - chosen, size) * bar_steps
    pieces = np.concatenate([notes[keep], np.tile(notes[one], repeats)])
    times = np.concatenate([onset[keep], np.tile(onset[one], repeats) + shift])
    return _retimed(pieces, times, _before(notes, onset, resolution), resolution)
