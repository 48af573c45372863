"""Musical metrics: exact hand-computed values, equality with MusPy on real songs, tables.

The hand-written note arrays below test arithmetic only; every claim about music is checked
on real songs (LPD-5's own file, the Lakh MIDI files, Bach chorales).
"""

from __future__ import annotations

import math
from pathlib import Path

import muspy
import numpy as np
import pypianoroll
import pytest

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.note_timing import note_onsets
from musegen.data.pianoroll_notes import NOTE_DTYPE, notes_to_song, song_to_notes
from musegen.data.sources import lpd_files
from musegen.metrics import musical as M
from tests.conftest import LPD5_FILE, need

DRUMS, PIANO, GUITAR, BASS = 0, 1, 2, 3


def notes_of(rows: list[tuple[int, int, int, int]], resolution: int = 24) -> np.ndarray:
    """Notes from ``(onset step, pitch, length in steps, track)``, sorted as songs are."""
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (t, p, d, k) in enumerate(rows):
        notes[i] = (t, p, 0.0, d / resolution, 100, k)
    notes = notes[np.lexsort((notes["pitch"], notes["track"], notes["time"]))]
    notes["step"] = np.diff(notes["time"], prepend=notes["time"][:1]) / resolution
    return notes


# Two piano chords and drums; see each test for the arithmetic.
SONG_ROWS = [
    (0, 60, 24, PIANO),  # C4, beat 0
    (0, 64, 24, PIANO),  # E4
    (24, 67, 48, PIANO),  # G4, beats 1-2
    (96, 72, 24, PIANO),  # C5, bar 1
    (0, 36, 1, DRUMS),  # within-beat positions 0, 6, 8, 12
    (6, 42, 1, DRUMS),
    (32, 42, 1, DRUMS),
    (60, 38, 1, DRUMS),
]
SONG = notes_of(SONG_ROWS)
EMPTY = np.zeros(0, dtype=NOTE_DTYPE)


def test_pitch_metrics_by_hand() -> None:
    assert M.pitch_range(SONG) == 12.0  # C5 - C4, drums ignored
    assert M.n_pitch_classes_used(SONG) == 3.0  # C, E, G: C4 and C5 are one class
    assert M.pitch_entropy(SONG) == pytest.approx(2.0)  # four pitches, 1/4 each
    assert M.pitch_class_entropy(SONG) == pytest.approx(1.5)  # C 1/2, E 1/4, G 1/4
    assert M.scale_consistency(SONG) == 1.0  # all in C major
    off = notes_of([*SONG_ROWS, (120, 66, 24, PIANO)])
    assert M.scale_consistency(off) == pytest.approx(1.0)  # G major holds C, E, G, F#
    off = notes_of([*SONG_ROWS, (120, 61, 24, PIANO)])  # C#: no scale holds C, C#
    assert M.scale_consistency(off) == pytest.approx(4 / 5)  # C major holds 4 of 5


def test_polyphony_by_hand() -> None:
    # steps 0-23: C4+E4 (2 pitches); 24-71: G4; 96-119: C5 -> (48 + 48 + 24) / 96
    assert M.polyphony(SONG) == pytest.approx(120 / 96)
    # the same pitch in two tracks sounds once (MusPy merges tracks into one binary roll)
    doubled = notes_of([*SONG_ROWS, (0, 60, 24, GUITAR)])
    assert M.polyphony(doubled) == pytest.approx(120 / 96)


def test_empty_beat_rate_by_hand_and_muspy_counting() -> None:
    # last end 84 -> 84 // 24 + 1 = 4 beats; beats 0 and 3 sound -> 2 of 4 empty
    assert M.empty_beat_rate(notes_of([(0, 60, 12, PIANO), (72, 62, 12, PIANO)])) == 0.5
    # MusPy's counting: a note ending on a beat line fills the next beat too, and the beat
    # count is end // 24 + 1 = 2 here, so one quarter note gives 0, not 0.5
    quarter = notes_of([(0, 60, 24, PIANO)])
    assert M.empty_beat_rate(quarter) == 0.0
    assert muspy.empty_beat_rate(M.to_muspy(quarter)) == 0.0
    assert M.empty_beat_rate(SONG) == 0.0  # drums count here


def test_pypianoroll_empty_beat_rate_is_the_non_empty_rate() -> None:
    """Why MusPy's definition is used: pypianoroll's returns the opposite."""
    notes = notes_of([(72, 60, 12, PIANO)])  # beat 3 of 4 sounds
    roll = np.zeros((96, 128), dtype=bool)
    roll[72:84, 60] = True
    assert pypianoroll.metrics.empty_beat_rate(roll, 24) == 0.25  # 1 of 4 beats NOT empty
    assert M.empty_beat_rate(notes) == 0.75


def test_groove_and_drum_pattern_by_hand() -> None:
    groove = notes_of(
        [(0, 60, 12, PIANO), (48, 62, 12, PIANO), (96, 64, 12, PIANO), (120, 65, 12, PIANO)]
    )
    # bars {0, 48} and {0, 24}: 2 of 96 positions differ, over one pair of bars
    assert M.groove_consistency(groove) == pytest.approx(1 - 2 / 96)
    assert math.isnan(M.groove_consistency(notes_of([(0, 60, 12, PIANO)])))  # one bar
    # drum onsets at 0, 6, 32 (=8 in its beat), 60 (=12): duple grid {0,6,12,18} holds 3 of
    # 4, triple grid {0,8,16} 2 of 4
    assert M.drum_pattern_consistency(SONG) == 0.75
    assert math.isnan(M.drum_pattern_consistency(SONG[SONG["track"] != DRUMS]))


def test_musegan_metrics_by_hand() -> None:
    notes = notes_of(
        [
            (0, 60, 24, PIANO),  # bar 0: C, E, C (C4 + C5 is one class)
            (10, 64, 2, PIANO),
            (20, 72, 3, PIANO),
            (200, 62, 1, PIANO),  # bar 2: D
            (96, 43, 10, BASS),  # bar 1: G
            (100, 40, 200, BASS),  # E over steps 100-299: bars 1, 2, 3
            (0, 36, 1, DRUMS),
        ]
    )
    # the song ends at step 300 -> ceil(300 / 96) = 4 bars
    assert M.empty_bar_rate(notes, PIANO) == 0.5  # bars 0, 2 sound
    assert M.empty_bar_rate(notes, BASS) == 0.25  # bars 1, 2, 3
    assert M.empty_bar_rate(notes, DRUMS) == 0.75
    assert M.empty_bar_rate(notes, GUITAR) == 1.0
    assert M.used_pitch_classes(notes, PIANO) == 1.5  # (2 + 1) / 2 non-empty bars
    assert M.used_pitch_classes(notes, BASS) == pytest.approx(4 / 3)  # {G,E}, {E}, {E}
    assert M.qualified_note_rate(notes, PIANO) == 0.5  # lengths 24, 2, 3, 1: >= 3 steps
    assert M.qualified_note_rate(notes, BASS) == 1.0
    for fn in (M.used_pitch_classes, M.qualified_note_rate):
        assert math.isnan(fn(notes, DRUMS))  # undefined for drums
        assert math.isnan(fn(notes, GUITAR))  # no notes
    # QN's threshold is a 32nd note at any resolution: 6 steps at 48 per beat
    assert (
        M.qualified_note_rate(notes_of([(0, 60, 5, PIANO), (8, 62, 6, PIANO)], 48), PIANO, 48)
        == 0.5
    )


def test_empty_input_gives_nan() -> None:
    for name, fn in M.METRICS.items():
        value = fn(EMPTY, 24)
        if name == "n_pitch_classes_used":
            assert value == 0.0  # a count, as in MusPy
        else:
            assert math.isnan(value), name
    for fn in M.TRACK_METRICS.values():
        assert math.isnan(fn(EMPTY, PIANO, 24))
    drums_only = SONG[SONG["track"] == DRUMS]
    assert math.isnan(M.pitch_range(drums_only))  # MusPy would say -127
    assert muspy.pitch_range(M.to_muspy(drums_only)) == -127


def test_continuations_are_measured_from_their_own_first_bar() -> None:
    shifted = SONG.copy()
    shifted["time"] += 96 * 200 + 96  # bar 201; position in the bar kept
    for name, fn in M.METRICS.items():
        np.testing.assert_equal(fn(shifted, 24), fn(SONG, 24), err_msg=name)
    steps_only = SONG.copy()
    steps_only["time"] = 0  # disagrees with the steps: onsets come from the steps
    assert note_onsets(steps_only).tolist() == SONG["time"].tolist()


def _real_songs(lmd_lpd5: Path) -> list[np.ndarray]:
    songs = [song_to_notes(read_lpd_npz(need(LPD5_FILE)))]
    songs += [song_to_notes(read_lpd_npz(f.path)) for f in lpd_files(lmd_lpd5)[:12]]
    return songs


MUSPY_PAIRS = {
    "pitch_range": muspy.pitch_range,
    "n_pitch_classes_used": muspy.n_pitch_classes_used,
    "pitch_entropy": muspy.pitch_entropy,
    "pitch_class_entropy": muspy.pitch_class_entropy,
    "scale_consistency": muspy.scale_consistency,
    "polyphony": muspy.polyphony,
    "empty_beat_rate": muspy.empty_beat_rate,
    "groove_consistency": lambda m: muspy.groove_consistency(m, 96),
    "drum_pattern_consistency": muspy.drum_pattern_consistency,
}


def test_equal_to_muspy_on_real_songs(lmd_lpd5: Path) -> None:
    """The vectorised metrics are MusPy 0.5.0's, on whole songs and on continuations."""
    checked = 0
    for song in _real_songs(lmd_lpd5):
        for part in (song, song[137:900]):
            if not (part["track"] != DRUMS).any():
                continue  # MusPy's pitch_range differs there by design (NaN here)
            music = M.to_muspy(part)
            for name, reference in MUSPY_PAIRS.items():
                ours, theirs = M.METRICS[name](part, 24), float(reference(music))
                assert ours == pytest.approx(theirs, nan_ok=True), name
            checked += 1
    assert checked >= 20


def test_musegan_metrics_equal_a_dense_bar_roll_on_a_real_song() -> None:
    """EB and UPC from the note arrays equal MuseGAN's roll arithmetic (bars of 96 steps)."""
    notes = song_to_notes(read_lpd_npz(need(LPD5_FILE)))
    song = notes_to_song(notes)
    start = int(notes["time"].min()) // 96 * 96  # the metrics start at the first note's bar
    n_bars = -(-(song.n_steps - start) // 96)
    for tid in range(5):
        roll = song.tracks[tid].roll.toarray()[start:] > 0
        roll = np.pad(roll, ((0, n_bars * 96 - roll.shape[0]), (0, 0))).reshape(n_bars, 96, 128)
        sounding = roll.any(axis=(1, 2))
        assert M.empty_bar_rate(notes, tid) == pytest.approx(1 - sounding.mean())
        if tid != DRUMS:
            in_bar = roll.any(axis=1)  # (n_bars, 128): pitches sounding in each bar
            chroma = np.stack([in_bar[:, c::12].any(axis=1) for c in range(12)], axis=1)
            upc = chroma[sounding].sum(axis=1).mean()
            assert M.used_pitch_classes(notes, tid) == pytest.approx(upc)


def test_metrics_table_and_markdown(lmd_lpd5: Path) -> None:
    songs = _real_songs(lmd_lpd5)[:6]
    table = M.metrics_table({"real test": songs, "same again": songs, "nothing": [EMPTY]})
    assert list(table) == M.metric_names([0, 1, 2, 3, 4])
    assert "UPC/Drums" not in table and "EB/Drums" in table
    for name, row in table.items():
        assert row["real test"] == row["same again"], name
        assert row["nothing"]["n"] == (1 if name == "n_pitch_classes_used" else 0)
    per_song = [M.pitch_entropy(s) for s in songs]
    assert table["pitch_entropy"]["real test"]["mean"] == pytest.approx(np.mean(per_song))
    assert table["pitch_entropy"]["real test"]["std"] == pytest.approx(np.std(per_song))
    md = M.to_markdown(table)
    lines = md.strip().splitlines()
    assert lines[0] == "| metric | real test | same again | nothing |"
    assert len(lines) == 2 + len(table)
    assert "| pitch_range | " in md and " – |" in md
