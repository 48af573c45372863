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


def test_the_metrics_table_and_its_markdown_by_hand() -> None:
    """The table averages each metric over a column's songs where it is defined (population
    std, NaN skipped), with rows in ``metric_names`` order for the tracks present; the
    markdown prints ``mean ± std`` or a dash. Worked on ``SONG`` (pitch range 12, Piano and
    Drums) and one Piano chord C4-G4 held for a bar (range 7; no drums) at 12 steps a beat."""
    chord = notes_of([(0, 60, 48, PIANO), (0, 67, 48, PIANO)], resolution=12)
    table = M.metrics_table({"a": [SONG, chord], "none": [EMPTY]}, resolution=12)
    assert list(table) == M.metric_names([DRUMS, PIANO])
    assert M.metric_names([DRUMS, PIANO])[len(M.METRICS) :] == [
        "EB/Drums", "EB/Piano", "UPC/Piano", "QN/Piano"
    ]  # fmt: skip
    assert table["pitch_range"]["a"] == {"mean": 9.5, "std": 2.5, "n": 2}
    assert table["pitch_range"]["none"]["n"] == 0
    assert math.isnan(table["pitch_range"]["none"]["mean"])
    # the drum metric is defined for SONG only: the chord has no drums
    dp = M.drum_pattern_consistency(SONG, 12)
    assert table["drum_pattern_consistency"]["a"] == {"mean": dp, "std": 0.0, "n": 1}
    # the resolution reaches the metrics: MusPy's groove consistency compares bars of
    # 4 * resolution steps, so SONG's differs at 12 and 24 steps a beat
    at_24 = M.metrics_table({"a": [SONG]})["groove_consistency"]["a"]["mean"]
    assert at_24 == M.groove_consistency(SONG, 24) != M.groove_consistency(SONG, 12)
    groove = [M.groove_consistency(SONG, 12), M.groove_consistency(chord, 12)]
    assert table["groove_consistency"]["a"]["mean"] == pytest.approx(np.mean(groove))
    # track rows: given tracks win over the ones present
    only = M.metrics_table({"a": [SONG]}, track_ids=[PIANO], resolution=12)
    assert list(only) == M.metric_names([PIANO]) and "EB/Drums" not in only
    md = M.to_markdown(table, digits=2).splitlines()
    assert md[0] == "| metric | a | none |"
    assert md[1] == "| --- | ---: | ---: |"
    assert md[2] == "| pitch_range | 9.50 ± 2.50 | – |"
    assert len(md) == 2 + len(table)
    assert M.to_markdown(table).splitlines()[2] == "| pitch_range | 9.500 ± 2.500 | – |"
    assert M.to_markdown({}) == "| metric |  |\n| --- |  |\n"
    # no songs at all: the song metrics' rows, undefined
    nothing = M.metrics_table({"none": []})
    assert list(nothing) == list(M.METRICS) and nothing["pitch_range"]["none"]["n"] == 0
    # a track metric reads the resolution: a D4 of 0.115 beat is a 32nd note at 24 steps a
    # beat (3 steps), not at 12 (1 step, under the 2 of a 32nd there)
    short = notes_of([(0, 60, 24, PIANO)])
    short["duration"][0] = 0.115
    assert M.song_metrics(short, [PIANO], 24)["QN/Piano"] == 1.0
    assert M.song_metrics(short, [PIANO], 12)["QN/Piano"] == 0.0


@pytest.mark.parametrize(
    ("resolution", "duple", "triple"),
    [
        (24, [0, 6, 12, 18], [0, 8, 16]),  # 16ths; 8th-note triplets
        (12, [0, 3, 6, 9], [0, 4, 8]),
        (10, [0, 5], [0]),  # no 16ths on this grid, and no triplets
        (9, [0], [0, 3, 6]),  # no 8ths: triplets only
        (6, [0, 3], [0, 2, 4]),
        (1, [0], [0]),
    ],
)
def test_drum_pattern_grids_by_hand(resolution: int, duple: list, triple: list) -> None:
    """MusPy's masks: the positions within a beat that each meter's grid hits."""
    assert np.flatnonzero(M._drum_pattern(resolution, "duple")).tolist() == duple
    assert np.flatnonzero(M._drum_pattern(resolution, "triple")).tolist() == triple


def test_drum_pattern_consistency_takes_the_better_meter() -> None:
    triplets = notes_of([(0, 42, 1, DRUMS), (8, 42, 1, DRUMS), (16, 42, 1, DRUMS)])
    assert M.drum_pattern_consistency(triplets) == 1.0  # duple: 1 of 3
    sixteenths = notes_of([(0, 42, 1, DRUMS), (6, 42, 1, DRUMS), (18, 42, 1, DRUMS)])
    assert M.drum_pattern_consistency(sixteenths) == 1.0  # triple: 1 of 3
    mixed = notes_of([(0, 42, 1, DRUMS), (6, 42, 1, DRUMS), (8, 42, 1, DRUMS), (5, 42, 1, DRUMS)])
    assert M.drum_pattern_consistency(mixed) == 0.5  # duple 0, 6; triple 0, 8
    assert M.drum_pattern_consistency(notes_of([(3, 36, 1, DRUMS)])) == 0.0  # one, off both
    assert M.drum_pattern_consistency(notes_of([(24, 36, 1, DRUMS)])) == 1.0


def test_on_grid_rate_by_hand() -> None:
    """Onsets 0, 1/4, 1/2 and 1 beat: two on a beat, three on an eighth, all on a 16th; the
    grid has ``resolution // per_beat`` steps (at least one)."""
    rows = [(0, 60, 6, PIANO), (6, 62, 6, PIANO), (12, 64, 6, PIANO), (24, 65, 6, PIANO)]
    at_24 = notes_of(rows)
    at_12 = notes_of([(t // 2, p, d // 2, k) for t, p, d, k in rows], resolution=12)
    for notes, res in ((at_24, 24), (at_12, 12)):
        assert M.on_grid_rate(notes, res) == 0.5
        assert M.on_grid_rate(notes, res, 2) == 0.75
        assert M.on_grid_rate(notes, res, 4) == 1.0
    # five lines a beat at 24 steps: every 24 // 5 = 4 steps, so 0, 12 and 24 lie on it
    assert M.on_grid_rate(at_24, 24, 5) == 0.75
    # one step a beat: every onset is on the grid
    ones = notes_of([(0, 60, 1, PIANO), (1, 62, 1, PIANO), (2, 64, 1, PIANO)], resolution=1)
    assert M.on_grid_rate(ones, 1) == 1.0
    assert M.on_grid_rate(at_24[:1], 24) == 1.0  # one note
    assert math.isnan(M.on_grid_rate(EMPTY, 24))
    assert M.scale_consistency(at_24[:1]) == 1.0  # one pitched note lies in a scale


def test_groove_compares_each_bar_with_the_next_and_qn_keeps_one_step() -> None:
    """Three bars of 4 beats at 1 step a beat: onsets at beat 0 in bar 1, at beats 0 and 2
    in bars 2 and 3. Neighbours differ once (bars 1-2) in 2 x 4 positions: 1 - 1/8."""
    rows = [(0, 60, 1, PIANO), (4, 60, 1, PIANO), (6, 60, 1, PIANO), (8, 60, 1, PIANO),
            (10, 60, 1, PIANO)]  # fmt: skip
    assert M.groove_consistency(notes_of(rows, resolution=1), 1) == pytest.approx(1 - 1 / 8)
    # MuseGAN's 32nd note at 4 steps a beat rounds to no step: the threshold stays one step
    sixteenth = notes_of([(0, 60, 1, PIANO)], resolution=4)
    assert M.qualified_note_rate(sixteenth, PIANO, 4) == 1.0


def test_to_muspy_keeps_every_note_and_track_by_hand() -> None:
    """SONG at 12 steps a beat, starting in its second bar of 3 beats: MusPy gets each
    track's program, name and drum flag, and every note's onset (moved back by the whole
    bars before the first), length, pitch and velocity."""
    notes = notes_of([(t + 36, p, d, k) for t, p, d, k in SONG_ROWS], resolution=12)
    notes["velocity"] = np.arange(len(notes)) + 60
    music = M.to_muspy(notes, 12, beats_per_bar=3)
    assert music.resolution == 12
    assert [(t.program, t.is_drum, t.name) for t in music.tracks] == [
        (0, True, "Drums"), (0, False, "Piano")
    ]  # fmt: skip
    drums, piano = music.tracks
    sel = notes["track"] == PIANO
    assert [n.pitch for n in piano.notes] == notes["pitch"][sel].tolist()
    assert [n.velocity for n in piano.notes] == notes["velocity"][sel].tolist()
    assert [n.time for n in piano.notes] == (notes["time"][sel] - 36).tolist()  # one bar back
    assert [n.duration for n in piano.notes] == [24, 24, 48, 24]
    assert [n.time for n in drums.notes] == (notes["time"][~sel] - 36).tolist()
    # four beats a bar by default: nothing moves (the first onset lies in bar 0), and a
    # piece starting at step 50 moves back one bar of 48
    assert M.to_muspy(notes, 12).tracks[1].notes[0].time == 36
    later = notes_of([(50, 60, 12, PIANO), (62, 64, 12, GUITAR)], resolution=12)
    music = M.to_muspy(later, 12)
    assert [t.notes[0].time for t in music.tracks] == [2, 14]
    assert [(t.program, t.name) for t in music.tracks] == [(0, "Piano"), (24, "Guitar")]


def test_bars_of_three_beats_by_hand() -> None:
    """A Piano note for a whole 3/4 bar, starting at beat 3 (24 steps a beat): with bars of
    3 beats, one bar, played; counted in bars of 4, beats 3-6 span two bars, both played;
    the empty-bar rate and the groove read the bar they are given."""
    notes = notes_of([(72, 60, 72, PIANO)])
    assert M.empty_bar_rate(notes, PIANO, 24, beats_per_bar=3) == 0.0
    assert M.used_pitch_classes(notes, PIANO, 24, beats_per_bar=3) == 1.0
    two = notes_of([(72, 60, 72, PIANO), (144, 62, 24, GUITAR)])  # the Guitar in bar 2
    assert M.empty_bar_rate(two, GUITAR, 24, beats_per_bar=3) == 0.5
    assert M.empty_bar_rate(two, GUITAR, 24) == 0.5  # bars of 4 from bar 0: 0-96, 96-192
    # groove: onsets at the start of bars 1 and 2 of 3 beats: the same pattern, 1.0; in bars
    # of 4 beats (72 and 144 within bars 0 and 1 at 72 and 48) they differ
    assert M.groove_consistency(two, 24, beats_per_bar=3) == 1.0
    assert M.groove_consistency(two, 24) == pytest.approx(1 - 2 / 96)
