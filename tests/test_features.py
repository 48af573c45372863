"""Yang & Lerch's per-piece features (``metrics.features``), each worked by hand on one
built two-bar piece, at two resolutions."""

from __future__ import annotations

import numpy as np
import pytest

from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.metrics import features as F

DRUMS, PIANO, GUITAR, BASS = 0, 1, 2, 3
ROWS = [  # onset, pitch, length (steps at 24 a beat), track; sorted by onset, track, pitch
    (0, 36, 1, DRUMS),
    (0, 60, 24, PIANO),  # C4, a beat
    (0, 48, 96, BASS),  # C3, a bar
    (24, 64, 12, PIANO),  # E4
    (36, 67, 12, PIANO),  # G4
    (96, 72, 6, PIANO),  # C5, bar 2
    (96, 43, 48, BASS),  # G2
    (130, 38, 1, DRUMS),
]


def piece(resolution: int = 24, shift: int = 0) -> np.ndarray:
    """``ROWS`` at ``resolution`` steps a beat (every length a whole number of steps at 12
    and 24), all onsets moved by ``shift`` steps of 24 a beat."""
    notes = np.zeros(len(ROWS), dtype=NOTE_DTYPE)
    for i, (onset, pitch, length, track) in enumerate(ROWS):
        at = (onset + shift) * resolution // 24
        notes[i] = (at, pitch, 0.0, length / 24, 100, track)
    notes["step"][1:] = np.diff(notes["time"]) / resolution
    notes["step"][0] = notes["time"][0] / resolution
    return notes


@pytest.mark.parametrize("resolution", [24, 12])
def test_global_features_by_hand(resolution: int) -> None:
    notes = piece(resolution)
    # pitched notes by onset: C4, C3, E4, G4, C5, G2; drums never count
    assert F.pitch_count(notes, resolution).tolist() == [6.0]
    # consecutive notes of one track: Piano C4-E4-G4-C5, Bass C3-G2
    assert F.pitch_interval(notes, resolution).tolist() == [(4 + 3 + 5 + 5) / 4]
    pctm = np.zeros(144)
    pctm[[0 * 12 + 4, 4 * 12 + 7, 7 * 12 + 0, 0 * 12 + 7]] = 0.25  # C-E, E-G, G-C, C-G
    np.testing.assert_array_equal(F.pitch_class_transition_matrix(notes, resolution), pctm)
    # 8 notes over two bars (the bass's G2 ends at beat 6)
    assert F.note_count_per_bar(notes, resolution).tolist() == [4.0]
    # distinct onsets 0, 1, 1.5, 4, 130/24 beats: the mean gap
    assert F.inter_onset_interval(notes, resolution) == pytest.approx([(130 / 24) / 4])
    # lengths in steps of 24 a beat: 24, 96, 12, 12, 6, 48 -> TIME_EDGES bins 10, 14, 7,
    # 7, 5, 12
    nlh = np.zeros(16)
    nlh[[10, 14, 7, 5, 12]] = [1, 1, 2, 1, 1]
    np.testing.assert_array_equal(F.note_length_histogram(notes, resolution), nlh / 6)
    # length classes [0, 6, 12, 24, 48, 96, inf): Piano 3, 2, 2, 1; Bass 5, 4
    nltm = np.zeros(36)
    nltm[[3 * 6 + 2, 2 * 6 + 2, 2 * 6 + 1, 5 * 6 + 4]] = 0.25
    np.testing.assert_array_equal(F.note_length_transition_matrix(notes, resolution), nltm)
    assert F.pitch_range(notes, resolution).tolist() == [72.0 - 43.0]


def test_the_bar_count_starts_at_the_first_notes_bar() -> None:
    # moved 100 steps on: onsets from bar 1 (step 100), the last end at 244 (bar 2)
    notes = piece(shift=100)
    assert F.note_count_per_bar(notes, 24).tolist() == [8 / 2]
    assert F.note_count_per_bar(piece(shift=50), 24).tolist() == [8 / 3]  # 50..194: bars 0-2
    one = piece()[:2]  # a kick and a beat of C4: one bar
    assert F.note_count_per_bar(one, 24).tolist() == [2.0]


def test_features_a_piece_lacks_are_none() -> None:
    drums = piece()[[0, 7]]
    for name in ("pitch_count", "pitch_class_transition_matrix", "pitch_range",
                 "pitch_interval", "note_length_histogram", "note_length_transition_matrix",
                 "pitch_class_histogram"):  # fmt: skip
        assert F.GLOBAL_FEATURES[name](drums, 24) is None, name
    single = piece()[[0, 1]]  # one pitched note: no transition, one onset
    assert F.pitch_interval(single, 24) is None
    assert F.pitch_class_transition_matrix(single, 24) is None
    assert F.note_length_transition_matrix(single, 24) is None
    assert F.inter_onset_interval(single, 24) is None
    assert F.inter_onset_interval(piece()[:3], 24) is None  # three notes, one onset
    assert F.pitch_count(single, 24).tolist() == [1.0]
    assert F.note_count_per_bar(piece()[:0], 24) is None


def test_per_track_features_and_the_mix_by_hand() -> None:
    feats = F.features_for([DRUMS, PIANO, BASS])
    assert list(feats) == [
        *F.GLOBAL_FEATURES, "instrument_mix",
        "note_count_per_bar/Drums",
        "mean_pitch/Piano", "pitch_range/Piano", "note_count_per_bar/Piano",
        "mean_pitch/Bass", "pitch_range/Bass", "note_count_per_bar/Bass",
    ]  # fmt: skip
    assert list(F.features_for([PIANO])) == list(F.GLOBAL_FEATURES)  # one track: no mix
    notes = piece(12)
    np.testing.assert_array_equal(feats["instrument_mix"](notes, 12), [2 / 8, 4 / 8, 2 / 8])
    assert feats["instrument_mix"](notes[:0], 12) is None
    assert feats["instrument_mix"](notes[:1], 12).tolist() == [1.0, 0.0, 0.0]
    assert feats["mean_pitch/Piano"](notes, 12).tolist() == [(60 + 64 + 67 + 72) / 4]
    assert feats["pitch_range/Piano"](notes, 12).tolist() == [12.0]
    assert feats["pitch_range/Bass"](notes, 12).tolist() == [5.0]
    assert feats["note_count_per_bar/Bass"](notes, 12).tolist() == [1.0]  # 2 over 2 bars
    assert feats["note_count_per_bar/Drums"](notes[:1], 12).tolist() == [1.0]
    assert feats["note_count_per_bar/Bass"](notes[:0], 12) is None
    assert feats["mean_pitch/Bass"](notes[:2], 12) is None  # no bass yet
    # a feature's values go into rows of the pieces that have it
    values, rows = F.feature_matrix([notes, notes[:2], notes[[0]]], feats["mean_pitch/Piano"], 12)
    assert rows.tolist() == [0, 1] and values.dtype == np.float64
    np.testing.assert_array_equal(values, [[65.75], [60.0]])
    empty, none = F.feature_matrix([notes[[0]]], feats["mean_pitch/Piano"], 12)
    assert empty.shape == (0, 0) and none.size == 0 and none.dtype == np.int64


def test_the_key_normalised_histogram_rolls_to_the_best_major_tonic() -> None:
    # G major's notes (G, B, D, F#) most: the tonic G goes to index 0
    notes = piece()[[1]]
    for p in (67, 71, 74, 66, 67):
        notes = np.append(notes, notes[-1:])
        notes["pitch"][-1] = p
    hist = F.pitch_class_histogram(notes, 24)
    got = F.pitch_class_histogram_in_key(notes, 24)
    np.testing.assert_array_equal(got, np.roll(hist, -7))
    assert got[0] == pytest.approx(2 / 6)  # G twice of six


def test_transitions_keep_each_tracks_onset_order_in_a_long_piece() -> None:
    """60 notes, two tracks interleaved: sorting by track must keep each track's notes in
    onset order (a stable sort; numpy's default is not stable past 16 elements). Piano
    climbs C4, C#4, D4 ... in steps of 1; Bass falls from 60 in steps of 2; each track's
    intervals are all equal, so any reordering changes the mean."""
    n = 60
    notes = np.zeros(n, dtype=NOTE_DTYPE)
    notes["time"] = np.arange(n) * 6
    notes["track"] = np.where(np.arange(n) % 2 == 0, PIANO, BASS)
    notes["pitch"] = np.where(notes["track"] == PIANO, 48 + np.arange(n) // 2, 60 - np.arange(n))
    notes["step"] = np.r_[0.0, np.full(n - 1, 0.25)]
    notes["duration"] = 0.25
    assert F.pitch_interval(notes, 24).tolist() == [(29 * 1 + 29 * 2) / 58]
    pctm = F.pitch_class_transition_matrix(notes, 24).reshape(12, 12)
    assert pctm[0, 1] > 0 and pctm[1, 0] == 0  # Piano C -> C#, never back


def test_the_smallest_pieces_that_have_each_feature() -> None:
    notes = piece()
    two_onsets = notes[:4]  # a kick, C4, C3 at 0; E4 at 24
    assert F.inter_onset_interval(two_onsets, 24).tolist() == [1.0]
    pair = notes[[1, 3]]  # C4 then E4 on the Piano: one transition
    pctm = F.pitch_class_transition_matrix(pair, 24)
    assert pctm[0 * 12 + 4] == 1.0 and pctm.sum() == 1.0
    assert F.note_length_transition_matrix(pair, 24)[3 * 6 + 2] == 1.0  # a beat, then half
    assert F.pitch_interval(pair, 24).tolist() == [4.0]
    one = notes[[1]]
    assert F.note_length_histogram(one, 24)[10] == 1.0  # one note of a beat
    assert F.pitch_count(one, 24).dtype == np.float64


def test_lengths_just_below_a_bin_edge_stay_in_their_bin() -> None:
    """35 and 47 steps, one step below the edges 36 and 48: the histogram's bins and the
    transition matrix's classes take them as they are, scaled by exactly 24 / resolution."""
    rows = [(0, 60, 35, PIANO), (48, 62, 47, PIANO)]
    notes = np.zeros(2, dtype=NOTE_DTYPE)
    for i, (t, p, d, k) in enumerate(rows):
        notes[i] = (t, p, t / 24 if i else 0.0, d / 24, 100, k)
    notes["step"][1] = 2.0
    nlh = F.note_length_histogram(notes, 24)
    assert np.flatnonzero(nlh).tolist() == [10, 11]  # 35 steps: [24, 36); 47: [36, 48)
    assert F.note_length_transition_matrix(notes, 24)[3 * 6 + 3] == 1.0  # both in [24, 48)


def test_the_bar_count_reads_lengths_at_the_resolution_given() -> None:
    """At 12 steps a beat: C4 for a beat at 0, D4 for 1.5 beats at step 30, ending at step
    48, the bar line: one bar (at 24 steps a beat the same notes would end in bar 2)."""
    notes = np.zeros(2, dtype=NOTE_DTYPE)
    notes[0] = (0, 60, 0.0, 1.0, 100, PIANO)
    notes[1] = (30, 62, 2.5, 1.5, 100, PIANO)
    assert F.note_count_per_bar(notes, 12).tolist() == [2.0]


def test_chords_keep_their_order_within_an_onset_in_a_long_piece() -> None:
    """20 Piano chords C4-E4-G4, the array ordered by pitch within each onset: sorting by
    onset must keep that order (a stable sort), so the intervals inside a chord are 4 and 3
    and between chords G4 -> C4 is 7: (4 + 3) * 20 + 7 * 19 over 59."""
    n = 60
    notes = np.zeros(n, dtype=NOTE_DTYPE)
    notes["time"] = np.repeat(np.arange(20) * 24, 3)
    notes["pitch"] = np.tile([60, 64, 67], 20)
    notes["track"] = PIANO
    notes["step"] = np.where(np.arange(n) % 3 == 0, 1.0, 0.0)
    notes["step"][0] = 0.0
    notes["duration"] = 1.0
    assert F.pitch_interval(notes, 24).tolist() == [((4 + 3) * 20 + 7 * 19) / 59]
