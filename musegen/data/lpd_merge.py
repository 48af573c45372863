"""Merge any multitrack pianoroll (LPD-17, LPD-full, a converted MIDI file) into LPD-5.

Tracks are assigned with LPD's official rule (``tracks.lpd5_family``) and merged by
element-wise maximum, as LPD's ``src/merger_5.py`` does.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from musegen.data.lpd_io import Song, TrackRoll
from musegen.data.tracks import DROPPED, LPD5_IS_DRUM, LPD5_PROGRAMS, LPD5_TRACKS, lpd5_family


def is_lpd5(song: Song) -> bool:
    """True if ``song`` already has LPD-5's five tracks in LPD-5's order."""
    return tuple(t.name for t in song.tracks) == LPD5_TRACKS


def merge_to_lpd5(song: Song) -> Song:
    """Return ``song`` merged into LPD-5's five tracks (Drums, Piano, Guitar, Bass, Strings).

    An LPD-5 song is returned as it is. Every track of the result has the song's full length
    ``(T, 128)`` and the input's dtype, so an empty family gives an all-zero track.
    """
    if is_lpd5(song):
        return song
    n_steps = song.n_steps
    families = lpd5_family(
        np.array([t.program for t in song.tracks], dtype=np.int64),
        np.array([t.is_drum for t in song.tracks], dtype=bool),
    )
    dtype = song.tracks[0].roll.dtype if song.tracks else np.uint8
    merged: list[TrackRoll] = []
    for tid, name in enumerate(LPD5_TRACKS):
        roll = sp.csc_matrix((n_steps, 128), dtype=dtype)
        for track, family in zip(song.tracks, families, strict=True):
            if family != tid or family == DROPPED:
                continue
            part = track.roll
            if part.shape[0] != n_steps:
                part = (
                    sp.csc_matrix((part.data, part.indices, part.indptr), shape=(n_steps, 128))
                    if part.shape[0] < n_steps
                    else part[:n_steps]
                )
            roll = roll.maximum(part).tocsc()
        merged.append(TrackRoll(name, LPD5_PROGRAMS[tid], LPD5_IS_DRUM[tid], roll))
    return Song(song.name, song.resolution, merged, song.tempo, song.downbeat, dict(song.extra))
