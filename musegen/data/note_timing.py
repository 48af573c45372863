"""Where notes sit on the time grid: the one rule every writer, metric, renderer and sampler
uses.

A note array (``pianoroll_notes.NOTE_DTYPE``) says when its notes start twice: ``step``, the
beats since the previous note's onset, and ``time``, the onset in time steps (``resolution``
per beat). Notes read from data carry both; generated notes get ``time`` from their steps
(``continue_times``). The rule:

* a step or a duration goes to the grid by rounding: ``rint(beats * resolution)``;
* onsets are ``time`` when it agrees with the steps (``diff(time) == grid(step[1:])``; the
  first step is not checked, since it refers to a note before the array, e.g. the primer's
  last), else the running sum of the gridded steps (``cumsum(grid(step))``): each step is
  rounded first, then added, so a note's onset and its stored step always agree;
* lengths are ``max(grid(duration), 1)``: no note is shorter than one step.

``end_at_repeats`` is the one rule for a note that starts while a note of the same pitch on
the same track still sounds (a model may draw one): the earlier note ends there.
``expand_runs`` turns (onset, length) runs into the time steps they cover, the one
vectorised way to paint notes into rolls; ``model_track_lut`` maps LPD-5 track ids to a
model's track indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from musegen.data.tracks import LPD5_TRACKS

RESOLUTION = 24
"""Time steps per beat: LPD's grid, and the default of every function that places notes on
it (``data.resolution`` sets a run's own)."""

BEATS_PER_BAR = 4
"""Beats of a bar: LPD keeps no time signature, so every bar is taken as 4 beats."""


def bar_steps(resolution: int = RESOLUTION) -> int:
    """Time steps of one bar."""
    return BEATS_PER_BAR * int(resolution)


def to_grid(beats: np.ndarray, resolution: int) -> np.ndarray:
    """Beats to whole time steps, ``rint(beats * resolution)``: int64, same shape."""
    return np.rint(np.asarray(beats, dtype=np.float64) * resolution).astype(np.int64)


def note_onsets(notes: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """Onsets in time steps (int64, shape=(n,)): ``time`` when it agrees with the steps,
    else the running sum of the gridded steps (module docstring)."""
    notes = np.asarray(notes)
    steps = to_grid(notes["step"], resolution)
    if "time" in (notes.dtype.names or ()) and notes.size:
        times = notes["time"].astype(np.int64)
        if np.array_equal(np.diff(times), steps[1:]):
            return times
    return np.cumsum(steps)


def note_lengths(notes: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """Lengths in time steps, ``max(grid(duration), 1)``: int64, shape=(n,)."""
    return np.maximum(to_grid(np.asarray(notes)["duration"], resolution), 1)


def onsets_and_lengths(
    notes: np.ndarray, resolution: int = RESOLUTION
) -> tuple[np.ndarray, np.ndarray]:
    """``(note_onsets, note_lengths)``."""
    return note_onsets(notes, resolution), note_lengths(notes, resolution)


def continue_times(steps: np.ndarray, start: np.ndarray | int = 0) -> np.ndarray:
    """Onsets of notes that follow an onset at ``start`` by ``steps`` (time steps).

    Parameters
    ----------
    steps : ndarray, shape=(..., n), int
        Gridded steps; ``steps[..., 0]`` is the gap after ``start``.
    start : int or ndarray, shape=(...,)
        The onset before the first note (a primer's last), one per row.

    Returns
    -------
    ndarray, shape=(..., n), int64
    """
    steps = np.asarray(steps, dtype=np.int64)
    return np.asarray(start, dtype=np.int64)[..., None] + np.cumsum(steps, axis=-1)


def end_at_repeats(
    onset: np.ndarray, length: np.ndarray, key: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a note starts while an earlier note of the same ``key`` still sounds, the earlier
    note ends there, as a MIDI player ends a sounding key at its next note-on; notes of one
    key at one onset are one note (the longest is kept). A file written after this rule says
    exactly what is heard.

    Parameters
    ----------
    onset, length : ndarray, shape=(n,), int
        Time steps.
    key : ndarray, shape=(n,), int
        What "the same pitch on the same track" means to the caller, e.g.
        ``track * 128 + pitch``.

    Returns
    -------
    length : ndarray, shape=(n,), int64
        The lengths after the rule (at least 1 step), in the input order.
    keep : ndarray, shape=(n,), bool
        False for the notes merged into another at the same onset.
    """
    onset = np.asarray(onset, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    key = np.asarray(key, dtype=np.int64)
    order = np.lexsort((length, onset, key))  # by key, onset, then the longest last
    k, on, ln = key[order], onset[order], length[order]
    same_key = np.zeros(k.size, dtype=bool)  # the next note (in this order) has the same key
    same_key[:-1] = k[1:] == k[:-1]
    merged = same_key.copy()  # ... and the same onset: this note is merged into it
    merged[:-1] &= on[1:] == on[:-1]
    gap = np.full(k.size, np.iinfo(np.int64).max)
    gap[:-1] = np.where(same_key[:-1], on[1:] - on[:-1], gap[:-1])
    out_length = np.empty_like(length)
    keep = np.empty(k.size, dtype=bool)
    out_length[order] = np.minimum(ln, np.maximum(gap, 1))
    keep[order] = ~merged
    return out_length, keep


def expand_runs(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Every position of runs ``[start, start + length)``, run after run (int64).

    ``expand_runs([3, 10], [2, 3]) == [3, 4, 10, 11, 12]``: the time steps a note covers,
    for painting notes into a roll with one fancy index; pair it with
    ``np.repeat(values, length)`` for each position's pitch or velocity.
    """
    start = np.asarray(start, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    total = int(length.sum())
    return np.repeat(start - np.cumsum(length) + length, length) + np.arange(total, dtype=np.int64)


def model_track_lut(track_ids: Sequence[int]) -> np.ndarray:
    """LPD-5 track id -> the model's track index (``-1`` where the model has no such track).

    A model numbers its tracks ``0..n-1`` in the order of ``track_ids`` (e.g. ``[Piano]``
    is track 0 of a Piano-only model, while LPD-5 id 0 is Drums).

    Returns
    -------
    ndarray, shape=(5,), int64
    """
    lut = np.full(len(LPD5_TRACKS), -1, dtype=np.int64)
    lut[list(track_ids)] = np.arange(len(track_ids))
    return lut
