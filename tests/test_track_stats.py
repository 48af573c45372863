"""Per-instrument statistics on a tiny hand-made song, and the broken controls."""

from __future__ import annotations

import numpy as np
import pytest

from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.metrics.controls import break_key, scramble_tracks
from musegen.metrics.tracks import TONAL_MATRIX, TrackRanges, piece_track_stats, tonal_distance

DRUMS, PIANO, BASS = 0, 1, 3


def _song() -> np.ndarray:
    """One bar: a C major chord on Piano for two beats, then a G below the bass's last note
    (beat 3); bass E2 then G2 (a beat each); four kick drums, one a beat."""
    rows = [
        # time, pitch, duration (steps), track
        (0, 36, 1, DRUMS),
        (0, 60, 48, PIANO),
        (0, 64, 48, PIANO),
        (0, 67, 48, PIANO),
        (0, 40, 24, BASS),
        (24, 36, 1, DRUMS),
        (24, 43, 24, BASS),
        (48, 36, 1, DRUMS),
        (48, 55, 24, PIANO),
        (72, 36, 1, DRUMS),
    ]
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (time, pitch, length, track) in enumerate(rows):
        notes[i] = (time, pitch, 0.0, length / 24, 100, track)
    notes["step"][1:] = np.diff(notes["time"]) / 24
    return notes


def test_statistics_of_a_hand_made_song() -> None:
    notes = _song()
    ranges = TrackRanges(
        low={BASS: 41.0, PIANO: 48.0, DRUMS: 35.0}, high={BASS: 50.0, PIANO: 84.0, DRUMS: 60.0}
    )
    s = piece_track_stats(notes, [DRUMS, PIANO, BASS], ranges)
    assert s["share/Drums"] == pytest.approx(4 / 10)
    assert s["share/Piano"] == pytest.approx(4 / 10)
    assert s["share/Bass"] == pytest.approx(2 / 10)
    assert s["pitch_mean/Bass"] == pytest.approx(41.5)
    assert s["pitch_std/Bass"] == pytest.approx(1.5)
    assert s["pitch_range/Bass"] == 3.0
    assert s["pitch_mean/Piano"] == pytest.approx((60 + 64 + 67 + 55) / 4)
    assert s["pitch_range/Piano"] == 12.0
    assert s["out_of_range/Bass"] == pytest.approx(0.5)  # 40 lies below 41
    assert s["out_of_range/Piano"] == 0.0
    assert s["duration/Bass"] == pytest.approx(1.0)
    assert s["duration/Piano"] == pytest.approx((2 + 2 + 2 + 1) / 4)
    assert s["polyphony/Piano"] == pytest.approx((48 * 3 + 24 * 1) / 72)
    assert s["polyphony/Bass"] == pytest.approx(1.0)
    assert s["EB/Bass"] == 0.0 and s["EB/Drums"] == 0.0  # one bar, every track plays
    assert s["UPC/Piano"] == 3.0  # C, E, G (G twice)
    assert s["DP/Drums"] == 1.0  # every kick on the beat
    assert s["scale_consistency"] == 1.0  # all in C major
    assert "DP/Piano" not in s and "duration/Drums" not in s


def test_tonal_distance_by_hand() -> None:
    notes = _song()

    def centroid(chroma: np.ndarray) -> np.ndarray:
        return TONAL_MATRIX @ (chroma / chroma.sum())

    c_major, e, g = np.zeros(12), np.zeros(12), np.zeros(12)
    c_major[[0, 4, 7]] = 24  # each chord note sounds a whole beat
    e[4], g[7] = 24, 24
    g_only = np.zeros(12)
    g_only[7] = 24
    # beats where both sound: 1 (chord vs E), 2 (chord vs G); beat 3 has piano G but no bass
    expected = np.mean(
        [
            np.linalg.norm(centroid(c_major) - centroid(e)),
            np.linalg.norm(centroid(c_major) - centroid(g)),
        ]
    )
    assert tonal_distance(notes, PIANO, BASS) == pytest.approx(expected)
    assert tonal_distance(notes, PIANO, 2) != tonal_distance(notes, PIANO, 2)  # NaN: no guitar


def test_out_of_range_uses_the_reference_percentiles() -> None:
    reference = np.zeros(101, dtype=NOTE_DTYPE)
    reference["track"] = BASS
    reference["pitch"] = np.arange(30, 131) % 128  # 30..127, then 0..2
    ranges = TrackRanges.fit([reference])
    pitches = np.sort(reference["pitch"].astype(float))
    assert ranges.low[BASS] == pytest.approx(np.percentile(pitches, 1))
    assert ranges.high[BASS] == pytest.approx(np.percentile(pitches, 99))


def test_controls_break_what_they_say_and_keep_the_rest() -> None:
    notes = _song()
    rng = np.random.default_rng(0)
    scrambled = scramble_tracks(notes, rng)
    assert sorted(scrambled["track"]) == sorted(notes["track"])  # the same mix
    np.testing.assert_array_equal(scrambled["pitch"], notes["pitch"])
    assert (scrambled["track"] != notes["track"]).any()
    moved = break_key(notes, np.random.default_rng(1))
    drums = notes["track"] == DRUMS
    np.testing.assert_array_equal(moved["pitch"][drums], notes["pitch"][drums])
    shift = (moved["pitch"][~drums].astype(int) - notes["pitch"][~drums]) % 12
    assert np.all(shift == shift[0]) and 1 <= shift[0] <= 11  # one bar: one interval
    np.testing.assert_array_equal(moved["time"], notes["time"])
