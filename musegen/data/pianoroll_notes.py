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
    notes: np.ndarray, resolution: int = 24, name: str = "", tempo: float = 120.0
) -> Song:
    """Render a note array back into an LPD-5 ``Song`` (uint8 velocity rolls).

    Onsets come from ``time`` when it is consistent with ``step`` and from the cumulative
    ``step`` otherwise (generated notes carry only steps); durations are rounded to time steps
    (at least 1). Overlapping notes of one pitch and track merge by maximum velocity.
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
    tempo_arr = np.full(n_steps, float(tempo))
    return Song(name, resolution, tracks, tempo_arr, None)


def onsets_and_lengths(notes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and lengths of notes in time steps (``int64``), the rule every writer uses.

    Onsets are the cumulative ``step`` in beats, rounded to steps, unless ``time`` is present
    and equals them up to a shift: then ``time`` keeps the song's absolute start. Lengths are
    ``duration`` rounded to steps, at least 1.
    """
    onset = np.rint(np.cumsum(notes["step"].astype(np.float64)) * resolution).astype(np.int64)
    if "time" in (notes.dtype.names or ()) and notes.size:
        times = notes["time"].astype(np.int64)
        if np.array_equal(times - times[0], onset):
            onset = times
    length = np.maximum(np.rint(notes["duration"].astype(np.float64) * resolution), 1)
    return onset, length.astype(np.int64)


def fill_roll(
    onset: np.ndarray, length: np.ndarray, pitch: np.ndarray, velocity: np.ndarray, n_steps: int
) -> sp.csc_matrix:
    """Paint notes into a sparse ``(n_steps, 128)`` uint8 roll, overlaps merged by max.

    Every note is expanded to its time steps with ``np.repeat``, then written with
    ``np.maximum.at`` so that overlapping notes keep the louder velocity.
    """
    onset = np.asarray(onset, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    dense = np.zeros((n_steps, 128), dtype=np.uint8)
    if onset.size:
        total = int(length.sum())
        first = np.repeat(onset - np.cumsum(length) + length, length)
        rows = first + np.arange(total, dtype=np.int64)
        cols = np.repeat(np.asarray(pitch, dtype=np.int64), length)
        vals = np.repeat(np.asarray(velocity, dtype=np.uint8), length)
        np.maximum.at(dense, (rows, cols), vals)
    return sp.csc_matrix(dense)
