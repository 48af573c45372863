"""Note array (``NOTE_DTYPE``) -> Standard MIDI File, exact to the time step.

The file's ticks per quarter note equals the note array's resolution, so every onset and
duration is a whole number of ticks and ``midi_to_lpd.midi_to_song`` reads the same notes
back. symusic writes the file (its tick-mode scores are integers end to end; pretty_midi
would go through float seconds).

Drums: in an LPD drum roll every non-zero time step is a hit (LPD stores drum onsets only),
so a drum "note" of k steps -- two or more hits on adjacent steps, which ``roll_runs`` reads
as one run -- is written as k one-step hits. Written as one long note it would come back as
a single hit and the round trip notes -> MIDI -> notes would lose the others. A model's
drum note is one step long: generation masks the drum duration to it
(``generation.sampling.Picker``), so it is written as one hit.

A note that starts while a note of the same pitch on the same track sounds ends the earlier
one there (``note_timing.end_at_repeats``), as a MIDI player would: the file says exactly
what is heard. The tempo is a number or a tempo map with its changes
(``performance.TEMPO_DTYPE``), written as the file's tempo events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import symusic

from musegen.atomic import write_bytes_atomic
from musegen.data.note_timing import RESOLUTION, end_at_repeats, expand_runs, onsets_and_lengths
from musegen.data.performance import DEFAULT_QPM, as_map
from musegen.data.tracks import LPD5_IS_DRUM, LPD5_PROGRAMS, LPD5_TRACKS


def notes_to_midi(
    notes: np.ndarray,
    path: str | Path,
    resolution: int = RESOLUTION,
    tempo: float | np.ndarray = DEFAULT_QPM,
    track_names: Sequence[str] = LPD5_TRACKS,
) -> Path:
    """Write notes as a MIDI file, atomically (temporary name, then ``os.replace``).

    Parameters
    ----------
    notes : ndarray, structured, shape=(n,)
        Fields ``pitch``, ``step`` (beats since the previous onset), ``duration`` (beats),
        ``velocity`` and ``track`` (LPD-5 track id); ``time`` (onset in time steps) is used
        when present and consistent with ``step``, as ``pianoroll_notes.notes_to_song`` does.
    path : str or Path
        Destination; its folder is created if needed.
    resolution : int
        Time steps per beat; also the file's ticks per quarter note.
    tempo : float or ndarray, TEMPO_DTYPE
        Quarter notes per minute: one tempo for the whole file, or a map of its changes
        (``performance``), written as tempo events.
    track_names : sequence of str
        Instrument name per LPD-5 track id.

    Returns
    -------
    Path
        ``path``. One instrument per LPD-5 track that has notes, with LPD-5's program
        (``tracks.LPD5_PROGRAMS``); Drums on the drum channel.
    """
    path = Path(path)
    if resolution < 1:
        raise ValueError(f"notes_to_midi: resolution must be >= 1, got {resolution}")
    try:
        tempo = as_map(tempo)
    except ValueError as err:
        raise ValueError(f"notes_to_midi: {err}") from None
    notes = np.asarray(notes)
    onset, length = _onsets_and_lengths(notes, resolution)
    track = notes["track"].astype(np.int64)
    if notes.size and (track.min() < 0 or track.max() >= len(track_names)):
        raise ValueError(
            f"notes_to_midi: track ids must be in 0..{len(track_names) - 1}, "
            f"got {track.min()}..{track.max()}"
        )
    pitch = notes["pitch"].astype(np.int64)
    if notes.size and (pitch.min() < 0 or pitch.max() > 127):
        raise ValueError("notes_to_midi: pitches must be in 0..127")
    # velocity 0 would be read as a note-off
    velocity = np.clip(notes["velocity"].astype(np.int64), 1, 127)

    score = symusic.Score(resolution)
    for at, qpm in zip(tempo["time"].tolist(), tempo["qpm"].tolist(), strict=True):
        score.tempos.append(symusic.Tempo(int(at), qpm=float(qpm)))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    for tid, name in enumerate(track_names):
        sel = track == tid
        if not sel.any():
            continue
        is_drum = LPD5_IS_DRUM[tid] if tid < len(LPD5_IS_DRUM) else False
        t_on, t_len, t_pitch, t_vel = onset[sel], length[sel], pitch[sel], velocity[sel]
        if is_drum:
            t_on, t_len, t_pitch, t_vel = _split_drum_runs(t_on, t_len, t_pitch, t_vel)
        t_len, keep = end_at_repeats(t_on, t_len, t_pitch)
        t_on, t_len, t_pitch, t_vel = t_on[keep], t_len[keep], t_pitch[keep], t_vel[keep]
        order = np.lexsort((t_pitch, t_on))
        instrument = symusic.Track(
            str(name), LPD5_PROGRAMS[tid] if tid < len(LPD5_PROGRAMS) else 0, bool(is_drum)
        )
        instrument.notes = symusic.Note.from_numpy(
            t_on[order].astype(np.int32),
            t_len[order].astype(np.int32),
            t_pitch[order].astype(np.int8),
            t_vel[order].astype(np.int8),
        )
        score.tracks.append(instrument)
    write_bytes_atomic(path, score.dumps_midi())
    return path


def _onsets_and_lengths(notes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """``note_timing.onsets_and_lengths``, refusing negative onsets."""
    onset, length = onsets_and_lengths(notes, resolution)
    if notes.size and onset.min() < 0:
        raise ValueError("notes_to_midi: negative onset (check the notes' step/time fields)")
    return onset, length


def _split_drum_runs(
    onset: np.ndarray, length: np.ndarray, pitch: np.ndarray, velocity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One 1-step hit per time step a drum note covers (see the module docstring)."""
    hits = expand_runs(onset, length)
    ones = np.ones(hits.size, dtype=np.int64)
    return hits, ones, np.repeat(pitch, length), np.repeat(velocity, length)
