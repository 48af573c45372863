"""Between note arrays (``NOTE_DTYPE``, LPD-5 track ids) and the network's batch tensors.

The network numbers the modelled tracks 0..n-1 (``NoteNet.config.track_names``); note
arrays, files and metrics use LPD-5 ids (0 = Drums). This module is the one place where the
two meet, so a Piano-only model's track 0 is never read as drums.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from musegen.data.note_timing import RESOLUTION, continue_times, model_track_lut, to_grid
from musegen.data.performance import DEFAULT_VELOCITY, from_steps
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.data.tracks import LPD5_TRACKS, track_ids


def model_track_ids(track_names: Sequence[str] | None) -> list[int]:
    """LPD-5 ids of a network's tracks (in its own order); Piano for an old single-track net."""
    return track_ids(list(track_names)) if track_names else [LPD5_TRACKS.index("Piano")]


def notes_to_tensors(
    songs: Sequence[np.ndarray], lpd_track_ids: Sequence[int], device: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """Equal-length note arrays -> ``(B, P)`` tensors with the model's track indices."""
    stacked = np.stack([np.asarray(s) for s in songs])  # (B, P) structured
    track = model_track_lut(lpd_track_ids)[stacked["track"]]
    if (track < 0).any():
        raise ValueError("a primer note is on a track the model does not know")
    as_t = torch.as_tensor
    return {
        "pitch": as_t(stacked["pitch"].astype(np.int64), device=device),
        "step": as_t(stacked["step"].astype(np.float32), device=device),
        "duration": as_t(stacked["duration"].astype(np.float32), device=device),
        "track": as_t(track, device=device),
        "time": as_t(stacked["time"].astype(np.int64), device=device),
        "velocity": as_t(stacked["velocity"].astype(np.int64), device=device),
    }


def tensors_to_notes(
    generated: dict[str, torch.Tensor],
    lpd_track_ids: Sequence[int],
    resolution: int = RESOLUTION,
    start_times: Sequence[int] | None = None,
    velocity: int | np.ndarray = DEFAULT_VELOCITY,
) -> list[np.ndarray]:
    """``(B, N)`` generated tensors -> B note arrays (``NOTE_DTYPE``) with consistent ``time``.

    ``time`` continues from ``start_times[b]`` (the onset of the primer's last note, in time
    steps) by the rounded cumulative steps, so onsets stay on the song's grid. ``velocity``:
    one for every note, or one per piece and LPD-5 track, ``shape=(B, 5)``
    (``performance.Performance.velocities``), where the network draws none; a drawn
    ``generated["velocity"]`` is written as it is.
    """
    ids = np.asarray(list(lpd_track_ids), dtype=np.uint8)
    cols = {k: v.detach().cpu().numpy() for k, v in generated.items()}
    batch, n = cols["pitch"].shape
    starts = np.zeros(batch, np.int64) if start_times is None else np.asarray(start_times)
    steps = to_grid(cols["step"], resolution)  # (B, N)
    times = continue_times(steps, starts)  # (B, N)
    table = np.broadcast_to(np.asarray(velocity, dtype=np.int64), (batch, len(LPD5_TRACKS)))
    out = []
    for b in range(batch):  # one array per piece, not per note
        notes = np.empty(n, dtype=NOTE_DTYPE)
        notes["time"] = times[b]
        notes["pitch"] = cols["pitch"][b]
        notes["step"] = steps[b] / resolution
        notes["duration"] = np.maximum(to_grid(cols["duration"][b], resolution), 1) / resolution
        notes["track"] = ids[cols["track"][b]]
        if "velocity" in cols:  # drawn by the network
            notes["velocity"] = np.clip(cols["velocity"][b], 1, 127)
        else:
            notes["velocity"] = table[b, notes["track"]]
        out.append(notes)
    return out


def midi_primer(
    path: str | Path, lpd_track_ids: Sequence[int], length: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The first ``length`` notes, on the modelled tracks, of a user's MIDI file, with the
    file's tempo map (``performance.TEMPO_DTYPE``) and whether the file sets a tempo (a file
    without tempo events plays at MIDI's default 120 qpm).

    Raises
    ------
    MidiReadError
        One line: the file has no notes on the modelled tracks, or is not a readable MIDI file.
    """
    from musegen.data.midi_to_lpd import MidiReadError, midi_to_song

    song = midi_to_song(path)
    notes = song_to_notes(song, list(lpd_track_ids))
    if notes.size == 0:
        names = [LPD5_TRACKS[i] for i in lpd_track_ids]
        raise MidiReadError(path, f"no notes on the model's tracks {names} to prime with")
    return notes[:length], from_steps(song.tempo), bool(song.extra.get("tempo_events"))
