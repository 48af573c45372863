"""MIDI file -> LPD-5 ``Song``, at LPD's 24 time steps per beat, in exact tick arithmetic.

This follows what ``pypianoroll.read(path, resolution=24)`` (pypianoroll 1.0.4,
``from_pretty_midi``) produces and what LPD's ``src/merger_5.py`` then does:

* onset = round(start_tick * resolution / tpq) (half to even, like ``np.round``),
  offset = floor(end_tick * resolution / tpq); drum notes keep their onset only (1 step);
* per source instrument and pitch, a note that reaches the next onset is cut one step before
  it, so that repeated notes stay separate runs of the roll;
* instruments go to LPD-5 tracks by ``tracks.lpd5_family`` and merge by element-wise max;
  velocity-0 notes are dropped.

It differs on purpose where pypianoroll loses or moves notes (docs/data.md has the measured
effect on Lakh files):

* a beat is one quarter note from tick 0, in integer arithmetic. pretty_midi places beats in
  float seconds from the time signatures: a dotted beat in 6/8 or 12/8, an extra short beat
  where a time signature sits off the beat, and with no time signature a first beat it
  estimates, dropping the notes that end before it;
* a note keeps at least one time step (``keep_short``): pypianoroll drops pitched notes whose
  offset rounds onto their onset (grace notes, drum-like hits on pitched tracks);
* the repeated-note rule runs on notes sorted by onset, not in pretty_midi's storage order,
  and overlapping notes merge by max (pypianoroll adds uint8 velocities, which can wrap).

The parsing is symusic's (C++, ~0.2 ms per Lakh file); everything after is numpy over all
notes at once.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import symusic
from symusic.core import ScoreTick

from musegen.data.lpd_io import Song, TrackRoll
from musegen.data.note_timing import RESOLUTION
from musegen.data.performance import DEFAULT_QPM
from musegen.data.pianoroll_notes import fill_roll
from musegen.data.tracks import DROPPED, LPD5_IS_DRUM, LPD5_PROGRAMS, LPD5_TRACKS, lpd5_family
from musegen.errors import UserError

MAX_STEPS = 1 << 24
"""Longest song accepted, in time steps (~97 hours at 120 qpm and resolution 24)."""


class MidiReadError(UserError):
    """A MIDI file cannot be used: unreadable, damaged or without notes (one line: file, why).

    ``path`` and ``reason`` are kept apart so that a caller listing many files can print the
    reason next to its own (e.g. relative) name for the file.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __reduce__(self) -> tuple:  # picklable across worker processes
        return (type(self), (self.path, self.reason))


def midi_to_song(
    path: str | Path, resolution: int = RESOLUTION, *, keep_short: bool = True
) -> Song:
    """Read a MIDI file into an LPD-5 ``Song`` (uint8 velocity rolls, ``resolution`` per beat).

    Parameters
    ----------
    path : str or Path
        A Standard MIDI File.
    resolution : int
        Time steps per beat (quarter note); LPD uses 24.
    keep_short : bool
        Keep pitched notes whose offset rounds onto their onset as 1-step notes (default).
        False drops them, as pypianoroll (and so LPD itself) does; the benchmark uses it to
        separate this deliberate difference from the others.

    Returns
    -------
    Song
        Five tracks in ``LPD5_TRACKS`` order, each ``csc_matrix, shape=(T, 128), uint8``;
        ``tempo`` (``shape=(T,), float64``, qpm per step) and ``downbeat``
        (``shape=(T,), bool``); ``T`` is a whole number of beats. ``name`` is the file's stem.

    Raises
    ------
    MidiReadError
        The file is missing, not MIDI, damaged (truncated, data byte > 127, ...), or has no
        notes that LPD-5 keeps.
    """
    path = Path(path)
    if resolution < 1:
        raise ValueError(f"midi_to_lpd: resolution must be >= 1, got {resolution}")
    score = _load_score(path)
    tpq = int(score.tpq)
    if tpq <= 0:
        raise MidiReadError(path, "SMPTE time division (frames per second) is not supported")

    # All notes of all source instruments in flat arrays; `inst` says which instrument.
    cols = [tr.notes.numpy() for tr in score.tracks]
    counts = np.array([c["time"].size for c in cols], dtype=np.int64)
    if counts.sum() == 0:
        raise MidiReadError(path, "no notes")
    family_of_inst = lpd5_family(
        np.array([tr.program for tr in score.tracks], dtype=np.int64),
        np.array([tr.is_drum for tr in score.tracks], dtype=bool),
    )
    inst = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    start = np.concatenate([c["time"] for c in cols]).astype(np.int64)
    end = start + np.concatenate([c["duration"] for c in cols]).astype(np.int64)
    pitch = np.concatenate([c["pitch"] for c in cols]).astype(np.int64)
    velocity = np.concatenate([c["velocity"] for c in cols]).astype(np.int64)
    family = family_of_inst[inst]
    keep = (velocity > 0) & (family != DROPPED) & (pitch >= 0) & (pitch < 128)
    inst, start, end, pitch, velocity, family = (
        a[keep] for a in (inst, start, end, pitch, velocity, family)
    )
    if inst.size == 0:
        raise MidiReadError(path, "no notes left after LPD-5's program rule (all dropped)")

    onset = _round_half_even(start * resolution, tpq)
    offset = (end * resolution) // tpq
    drum = family == 0
    offset[drum] = onset[drum] + 1  # LPD stores drum onsets only
    if keep_short:
        offset = np.maximum(offset, onset + 1)
    onset, offset, keep = _free_step_before_repeats(inst, pitch, onset, offset, ~drum)
    inst, pitch, velocity, family = inst[keep], pitch[keep], velocity[keep], family[keep]
    if onset.size == 0:
        raise MidiReadError(path, "no notes longer than one time step")

    n_steps = max(int(offset.max()), -(-int(score.end()) * resolution // tpq))
    n_steps = -(-n_steps // resolution) * resolution  # whole beats
    if n_steps > MAX_STEPS:  # a damaged delta time; the tempo array alone would not fit
        raise MidiReadError(path, f"implausibly long: {n_steps // resolution} beats")
    tracks = []
    for tid, name in enumerate(LPD5_TRACKS):
        sel = family == tid
        roll = fill_roll(onset[sel], offset[sel] - onset[sel], pitch[sel], velocity[sel], n_steps)
        tracks.append(TrackRoll(name, LPD5_PROGRAMS[tid], LPD5_IS_DRUM[tid], roll))
    return Song(
        name=path.stem,
        resolution=resolution,
        tracks=tracks,
        tempo=_tempo_array(score, resolution, n_steps),
        downbeat=_downbeat_array(score, resolution, n_steps),
        extra={"tempo_events": len(score.tempos)},
    )


def _round_half_even(num: np.ndarray, den: int) -> np.ndarray:
    """``np.round(num / den)`` (half to even, as pypianoroll rounds) without floating point."""
    q, r = np.divmod(num, den)
    up = (2 * r > den) | ((2 * r == den) & (q % 2 == 1))
    return q + up


def _free_step_before_repeats(
    inst: np.ndarray, pitch: np.ndarray, onset: np.ndarray, offset: np.ndarray, pitched: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """End a note one step before the next onset of its pitch in its instrument, if it overlaps.

    This is pypianoroll's "clear the step before an onset" rule: without the gap, a repeated
    note would fuse with the previous one into a single run of the roll. Notes with the same
    onset are left alone (the roll merges them by max); a note that would keep no step at all
    (it starts exactly one step before the next) is dropped, as pypianoroll loses it too.
    Only ``pitched`` notes take part (drums are 1-step onsets).

    Returns the new onset and offset arrays (in the input order) and a keep mask.
    """
    offset = offset.copy()
    idx = np.flatnonzero(pitched)
    order = idx[np.lexsort((onset[idx], pitch[idx], inst[idx]))]
    o_inst, o_pitch, o_onset = inst[order], pitch[order], onset[order]
    if order.size > 1:
        # Runs of notes sharing (instrument, pitch, onset); the next run's onset is the one
        # every note of a run must leave a free step before, if it is in the same group.
        new_run = np.ones(order.size, dtype=bool)
        new_run[1:] = (
            (o_inst[1:] != o_inst[:-1])
            | (o_pitch[1:] != o_pitch[:-1])
            | (o_onset[1:] != o_onset[:-1])
        )
        run_first = np.flatnonzero(new_run)
        run_id = np.cumsum(new_run) - 1
        same_group_next = np.zeros(run_first.size, dtype=bool)
        nxt = run_first[1:]
        prv = run_first[:-1]
        same_group_next[:-1] = (o_inst[nxt] == o_inst[prv]) & (o_pitch[nxt] == o_pitch[prv])
        next_onset = np.full(run_first.size, np.iinfo(np.int64).max, dtype=np.int64)
        next_onset[:-1] = np.where(same_group_next[:-1], o_onset[nxt], next_onset[:-1])
        limit = next_onset[run_id]
        o_offset = offset[order]
        clash = o_offset >= limit
        offset[order[clash]] = limit[clash] - 1
    keep = offset > onset
    return onset[keep], offset[keep], keep


def _tempo_array(score: ScoreTick, resolution: int, n_steps: int) -> np.ndarray:
    """Tempo in qpm at every time step (``shape=(T,), float64``), 120 before the first event."""
    tempos = score.tempos.numpy()
    times = tempos["time"].astype(np.int64)
    if times.size == 0:
        return np.full(n_steps, DEFAULT_QPM)
    order = np.argsort(times, kind="stable")
    steps = _round_half_even(times[order] * resolution, int(score.tpq))
    qpm = 6e7 / np.maximum(tempos["mspq"][order].astype(np.float64), 1.0)
    at = np.searchsorted(steps, np.arange(n_steps), side="right") - 1
    return np.where(at >= 0, qpm[np.maximum(at, 0)], DEFAULT_QPM)


def _downbeat_array(score: ScoreTick, resolution: int, n_steps: int) -> np.ndarray:
    """True at the first step of every bar (``shape=(T,), bool``), 4/4 until a time signature.

    A bar lasts ``numerator * 4 / denominator`` quarter notes; a time signature restarts the
    bar count where it occurs. The loop is over time signatures, a handful per file.
    """
    tpq = int(score.tpq)
    ts = score.time_signatures.numpy()
    times = ts["time"].astype(np.int64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    nums = ts["numerator"][order].astype(np.int64)
    dens = ts["denominator"][order].astype(np.int64)
    if times.size == 0 or times[0] > 0:
        times = np.concatenate([[0], times])
        nums = np.concatenate([[4], nums])
        dens = np.concatenate([[4], dens])
    end_tick = -(-n_steps * tpq // resolution)
    bounds = np.append(times[1:], max(end_tick, int(times[-1])))
    downbeat = np.zeros(n_steps, dtype=bool)
    for t0, t1, num, den in zip(times, bounds, nums, dens, strict=True):
        if num <= 0 or den <= 0 or t1 <= t0:
            continue
        # bar length in ticks is num * 4 * tpq / den: keep it as a fraction for exactness
        k = np.arange(-(-(t1 - t0) * den // (num * 4 * tpq)))
        ticks_num = t0 * den + k * num * 4 * tpq  # tick * den
        steps = _round_half_even(ticks_num * resolution, den * tpq)
        downbeat[steps[steps < n_steps]] = True
    return downbeat


def _load_score(path: Path) -> ScoreTick:
    """Parse ``path`` with symusic, turning every failure into a one-line ``MidiReadError``.

    symusic is lenient: it reads a file whose track data ends early without complaint. So
    the chunk structure is checked first (cheap: a few bytes per track); only a file that
    fails it goes through mido's strict parser, whose verdict and reason we report.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MidiReadError(path, "no such file") from None
    except OSError as exc:
        raise MidiReadError(path, f"cannot read ({exc.strerror or exc})") from None
    if data[:4] != b"MThd":
        raise MidiReadError(path, "not a MIDI file (no MThd header)")
    problem = _chunk_problem(data)
    if problem is not None:
        reason = _strict_reason(data)
        if reason is not None:
            raise MidiReadError(path, f"damaged MIDI file: {reason}")
    try:
        return symusic.Score.from_midi(data)
    except Exception as exc:  # symusic raises bare RuntimeErrors with terse texts
        reason = _strict_reason(data) or str(exc) or type(exc).__name__
        raise MidiReadError(path, f"damaged MIDI file: {reason}") from None


def _chunk_problem(data: bytes) -> str | None:
    """Check the header and the declared track chunks; ``None`` when they look sound.

    Every track chunk must lie inside the file and end with the End-of-Track meta event
    (``FF 2F 00``), as the MIDI standard requires. Bytes after the last declared track are
    ignored, as every reader does (many Lakh files carry such padding).
    """
    if len(data) < 14:
        return "header ends early"
    (header_len,) = struct.unpack(">I", data[4:8])
    _fmt, n_tracks, _division = struct.unpack(">HHH", data[8:14])
    pos = 8 + header_len
    for idx in range(n_tracks):
        if pos + 8 > len(data):
            return f"track {idx} of {n_tracks} missing"
        (length,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        end = pos + 8 + length
        if end > len(data):
            return f"track {idx} ends early"
        if data[pos : pos + 4] == b"MTrk" and data[end - 3 : end] != b"\xff\x2f\x00":
            return f"track {idx} has no End-of-Track event"
        pos = end
    return None


def _strict_reason(data: bytes) -> str | None:
    """Parse with mido in strict mode; the reason it fails, or ``None`` if it reads fine."""
    import io

    import mido

    try:
        mido.MidiFile(file=io.BytesIO(data), clip=False)
    except EOFError:
        return "file ends early (truncated track data)"
    except Exception as exc:  # mido raises OSError/ValueError/KeyError on bad bytes
        return str(exc) or type(exc).__name__
    return None
