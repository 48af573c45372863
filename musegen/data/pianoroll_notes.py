"""Pianorolls <-> note arrays, on the sparse arrays directly (no per-note Python loop).

A note is a maximal run of non-zero time steps of one pitch in one track, as in
``muspy.from_pypianoroll``; its velocity is the roll's value at the onset.

A song's notes form one structured array (``NOTE_DTYPE``) sorted by onset, then track, then
pitch. ``step`` is the time in beats since the previous note's onset (0 for the first note of
a song), ``duration`` the length in beats; ``time`` keeps the exact onset in time steps so
that the notes can be written back without rounding drift.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from musegen.data.lpd_io import Song, TrackRoll
from musegen.data.note_timing import RESOLUTION, expand_runs, onsets_and_lengths
from musegen.data.performance import DEFAULT_QPM, as_map, to_steps
from musegen.data.tracks import LPD5_IS_DRUM, LPD5_PROGRAMS, LPD5_TRACKS

NOTE_DTYPE = np.dtype(
    [
        ("time", np.int64),  # onset, in time steps (resolution per beat)
        ("pitch", np.uint8),  # MIDI pitch 0-127
        ("step", np.float32),  # beats since the previous note's onset
        ("duration", np.float32),  # beats
        ("velocity", np.uint8),  # 1-127
        ("track", np.uint8),  # LPD-5 track id, see tracks.LPD5_TRACKS
    ]
)


def roll_runs(roll: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Find the notes (maximal non-zero runs per pitch) of one sparse track.

    Parameters
    ----------
    roll : scipy.sparse matrix, shape=(T, 128)
        Velocities (uint8) or on/off (bool); zeros are silence.

    Returns
    -------
    onset, duration, pitch, velocity : ndarray, shape=(n_notes,)
        int64 time steps, int64 time steps, int64, uint8; ordered by pitch, then onset.
        A bool roll gives velocity 100 (LPD's binarised files carry no velocity).
    """
    csc = roll.tocsc() if not sp.isspmatrix_csc(roll) else roll
    if not csc.has_sorted_indices:
        csc = csc.sorted_indices()
    data = csc.data
    keep = data != 0
    rows = csc.indices.astype(np.int64)
    cols = np.repeat(np.arange(csc.shape[1], dtype=np.int64), np.diff(csc.indptr))
    if not keep.all():  # explicit zeros are silence, not notes
        rows, cols, data = rows[keep], cols[keep], data[keep]
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, dtype=np.uint8)
    # A run starts where the pitch changes or the time is not the previous step + 1.
    starts = np.ones(rows.size, dtype=bool)
    starts[1:] = (cols[1:] != cols[:-1]) | (rows[1:] != rows[:-1] + 1)
    start_idx = np.flatnonzero(starts)
    end_idx = np.append(start_idx[1:], rows.size) - 1  # last entry of each run
    onset = rows[start_idx]
    duration = rows[end_idx] - onset + 1
    pitch = cols[start_idx]
    if data.dtype == np.bool_:
        velocity = np.full(start_idx.size, 100, dtype=np.uint8)
    else:
        velocity = np.clip(data[start_idx], 0, 127).astype(np.uint8)
    return onset, duration, pitch, velocity


def song_to_notes(song: Song, track_ids: list[int] | None = None) -> np.ndarray:
    """Turn an LPD-5 song into one time-ordered note array (``NOTE_DTYPE``).

    Parameters
    ----------
    song : Song
        An LPD-5 song (tracks in ``LPD5_TRACKS`` order; merge other files first).
    track_ids : list of int, optional
        LPD-5 track ids to keep; all five by default.
    """
    track_ids = list(range(len(song.tracks))) if track_ids is None else list(track_ids)
    parts = []
    for tid in track_ids:
        onset, duration, pitch, velocity = roll_runs(song.tracks[tid].roll)
        part = np.empty(onset.size, dtype=NOTE_DTYPE)
        part["time"] = onset
        part["pitch"] = pitch
        part["duration"] = duration
        part["velocity"] = velocity
        part["track"] = tid
        parts.append(part)
    notes = np.concatenate(parts) if parts else np.empty(0, dtype=NOTE_DTYPE)
    order = np.lexsort((notes["pitch"], notes["track"], notes["time"]))
    notes = notes[order]
    res = float(song.resolution)
    notes["duration"] = notes["duration"] / res  # the field held steps until here
    step = np.diff(notes["time"], prepend=notes["time"][:1])
    notes["step"] = step / res
    return notes


def notes_to_song(
    notes: np.ndarray,
    resolution: int = RESOLUTION,
    name: str = "",
    tempo: float | np.ndarray = DEFAULT_QPM,
) -> Song:
    """Render a note array back into an LPD-5 ``Song`` (uint8 velocity rolls).

    Onsets and lengths follow ``note_timing.onsets_and_lengths`` (``time`` when it agrees
    with the steps; durations rounded, at least 1 step). Overlapping notes of one pitch and
    track merge by maximum velocity: a roll cannot tell a note that another of its pitch
    interrupts from one long note (LPD's own limit). ``tempo``: qpm, or a tempo map
    (``performance``), stored per step as LPD does.
    """
    notes = np.asarray(notes)
    onsets, lengths = onsets_and_lengths(notes, resolution)
    n_steps = int((onsets + lengths).max()) if notes.size else 0
    tracks = []
    for tid, tname in enumerate(LPD5_TRACKS):
        sel = notes["track"] == tid
        roll = fill_roll(
            onsets[sel], lengths[sel], notes["pitch"][sel], notes["velocity"][sel], n_steps
        )
        tracks.append(TrackRoll(tname, LPD5_PROGRAMS[tid], LPD5_IS_DRUM[tid], roll))
    return Song(name, resolution, tracks, to_steps(as_map(tempo), n_steps), None)


def fill_roll(
    onset: np.ndarray, length: np.ndarray, pitch: np.ndarray, velocity: np.ndarray, n_steps: int
) -> sp.csc_matrix:
    """Paint notes into a sparse ``(n_steps, 128)`` uint8 roll, overlaps merged by max.

    No dense ``(T, 128)`` array is made: turning one into CSC scans every cell and was 70% of
    a MIDI file's conversion time. The notes are sorted by (pitch, onset), so their cells
    come out in CSC order already unless notes overlap; only then are the cells sorted (a
    near-sorted stable sort) and duplicates reduced with ``np.maximum.reduceat``.
    """
    onset = np.asarray(onset, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    pitch = np.asarray(pitch, dtype=np.int64)
    order = np.lexsort((onset, pitch))
    onset, length, pitch = onset[order], length[order], pitch[order]
    vals = np.repeat(np.asarray(velocity, dtype=np.uint8)[order], length)
    # cell key = pitch * T + step: column-major, i.e. CSC order
    key = expand_runs(pitch * n_steps + onset, length)
    if key.size > 1 and not (key[1:] > key[:-1]).all():
        order = np.argsort(key, kind="stable")
        key, vals = key[order], vals[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        vals = np.maximum.reduceat(vals, starts)
        key = key[starts]
    indptr = np.searchsorted(key, np.arange(129, dtype=np.int64) * n_steps)
    indices = (key % n_steps).astype(np.int32) if n_steps else key.astype(np.int32)
    return sp.csc_matrix((vals, indices, indptr), shape=(n_steps, 128))
