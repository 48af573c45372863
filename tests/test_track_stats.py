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


def _off_grid_song() -> np.ndarray:
    """Notes at 24 steps a beat, many of them off the grid of 12 steps a beat, so that every
    statistic that rounds to the grid changes with the resolution it is given."""
    rows = [  # time, pitch, duration (steps at 24 a beat), track
        (0, 36, 1, DRUMS), (0, 60, 1, PIANO), (1, 38, 1, DRUMS), (1, 61, 1, PIANO),
        (3, 64, 5, PIANO), (5, 62, 3, 2), (7, 40, 30, BASS), (9, 41, 1, BASS),
        (20, 65, 3, PIANO), (95, 66, 3, 2), (100, 67, 13, PIANO), (101, 67, 2, PIANO),
        (190, 37, 3, BASS),
    ]  # fmt: skip
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (time, pitch, length, track) in enumerate(rows):
        notes[i] = (time, pitch, 0.0, length / 24, 100, track)
    notes["step"][1:] = np.diff(notes["time"]) / 24
    return notes


def test_each_statistic_reads_the_resolution_it_is_given() -> None:
    """At 12 steps a beat, ``piece_track_stats`` equals each statistic's own function called
    at 12, and the song is chosen so that these differ from their values at 24."""
    from musegen.metrics import musical as M
    from musegen.metrics import tracks as T

    notes, ids = _off_grid_song(), [DRUMS, PIANO, 2, BASS]
    ranges = TrackRanges(low={t: 40.0 for t in ids}, high={t: 80.0 for t in ids})
    at_12, at_24 = (piece_track_stats(notes, ids, ranges, r) for r in (12, 24))
    by_hand = {
        "UPC/2": M.used_pitch_classes(notes, 2, 12),
        "EB/3": M.empty_bar_rate(notes, BASS, 12),
        "polyphony/3": M.polyphony(T.track_notes(notes, notes["track"] == BASS, 12), 12),
        "TD/1-3": T.tonal_distance(notes, PIANO, BASS, 12),
        "semitone_clusters": T.semitone_cluster_share(notes, 12),
        "duration/2": 2 / 12,  # 5 and 3 steps at 24 are 2.5 -> 2 and 1.5 -> 2 at 12
    }
    names = {"1": "Piano", "2": "Guitar", "3": "Bass"}
    for key, value in by_hand.items():
        stat, _, rest = key.partition("/")
        key = f"{stat}/" + "-".join(names[t] for t in rest.split("-")) if rest else stat
        assert at_12[key] == pytest.approx(value), key
        assert at_12[key] != pytest.approx(at_24[key]), key
    # the note lengths in beats come from the resolution's grid too
    assert at_24["duration/Guitar"] == pytest.approx(3 / 24)
    assert set(at_12) == set(T.track_stat_names(ids))


def test_stat_names_tables_and_the_worst_range_by_hand() -> None:
    from musegen.metrics import tracks as T

    assert T.track_stat_names([DRUMS, PIANO, BASS]) == [
        "share/Drums", "share/Piano", "share/Bass",
        "pitch_mean/Drums", "pitch_mean/Piano", "pitch_mean/Bass",
        "pitch_std/Drums", "pitch_std/Piano", "pitch_std/Bass",
        "pitch_range/Drums", "pitch_range/Piano", "pitch_range/Bass",
        "out_of_range/Drums", "out_of_range/Piano", "out_of_range/Bass",
        "duration/Piano", "duration/Bass",
        "overlap/Drums", "overlap/Piano", "overlap/Bass",
        "polyphony/Piano", "polyphony/Bass",
        "EB/Drums", "EB/Piano", "EB/Bass",
        "UPC/Piano", "UPC/Bass",
        "QN/Piano", "QN/Bass",
        "DP/Drums",
        "TD/Piano-Bass",
        "scale_consistency", "pitch_class_entropy", "semitone_clusters",
    ]  # fmt: skip
    assert T.summarise([1.0, float("nan"), 3.0]) == {"mean": 2.0, "std": 1.0, "n": 2}
    none = T.summarise([float("nan")])
    assert none["n"] == 0 and np.isnan(none["mean"]) and np.isnan(none["std"])
    song, empty = _song(), np.zeros(0, dtype=NOTE_DTYPE)
    ranges = TrackRanges(low={BASS: 41.0, PIANO: 61.0}, high={BASS: 50.0, PIANO: 84.0})
    table = T.track_table({"a": [song, song], "b": [empty]}, [DRUMS, PIANO, BASS], ranges, 12)
    assert list(table) == T.track_stat_names([DRUMS, PIANO, BASS])
    assert table["out_of_range/Bass"]["a"] == {"mean": 0.5, "std": 0.0, "n": 2}  # 40 < 41
    assert table["out_of_range/Piano"]["a"]["mean"] == 0.5  # 60 and 55 below 61
    assert table["share/Piano"]["b"]["n"] == 0  # no notes: no share
    assert table["DP/Drums"]["a"]["mean"] == 1.0
    # the worst pitched track: Piano and Bass tie at 0.5; drums never count
    table["out_of_range/Drums"] = {"a": {"mean": 0.9, "std": 0.0, "n": 2}}
    table["out_of_range/Bass"]["a"]["mean"] = 0.75
    assert T.worst_out_of_range(table, "a") == 0.75
    assert np.isnan(T.worst_out_of_range(table, "b"))  # nothing finite
    assert np.isnan(T.worst_out_of_range(table, "c"))  # no such row


def test_ranges_edges_drums_and_track_notes_by_hand() -> None:
    from musegen.metrics import tracks as T

    notes = _song()
    ranges = TrackRanges(low={BASS: 40.0, PIANO: 55.0}, high={BASS: 43.0, PIANO: 67.0})
    assert ranges.outside(notes, BASS) == 0.0  # 40 and 43 lie on the edges: inside
    assert ranges.outside(notes, PIANO) == 0.0  # 55 and 67 too
    assert ranges.outside(notes[notes["pitch"] == 43], BASS) == 0.0  # one note is enough
    assert np.isnan(ranges.outside(notes, DRUMS))  # no reference range for the track
    # a drum track has no tonal distance, whatever the other
    assert np.isnan(tonal_distance(notes, DRUMS, PIANO))
    assert np.isnan(tonal_distance(notes, PIANO, DRUMS))
    assert np.isnan(tonal_distance(notes[:1], PIANO, BASS))  # one kick: no pitched track
    # a track's notes with their steps from their own onsets, in beats, and a copy
    bass = T.track_notes(notes, notes["track"] == BASS, 12)
    assert bass["time"].tolist() == [0, 12] and bass["step"].tolist() == [0.0, 1.0]  # at 12
    bass["pitch"][0] = 0
    assert notes["pitch"][4] == 40  # the song is untouched
    # the chroma of the beats asked for only; a note past them is left out
    chroma = T.beat_chroma(np.array([0, 20]), np.array([24, 10]), np.array([60, 62]), 1, 24)
    assert chroma.tolist() == [[24, 0, 4] + [0] * 9] and chroma.dtype == np.int64
    # no reference pieces, or only empty ones: no range for any track
    empty = np.zeros(0, dtype=NOTE_DTYPE)
    assert TrackRanges.fit([]) == TrackRanges({}, {}) == TrackRanges.fit([empty])
    assert T._concat([]).dtype == NOTE_DTYPE and T._concat([]).size == 0


def test_qn_drum_pattern_and_overlap_read_the_resolution_too() -> None:
    """Onsets and lengths in beats that round differently at 12 and 24 steps a beat: a
    drum at 0.3 beat (24: step 7, off both grids; 12: step 4, on the triplet grid); a C4 of
    5/24 beat and another C4 at 3/24 (24: it starts inside the first; 12: both round to step
    2, where the first ends); a D4 of 0.115 beat (24: 3 steps, a 32nd; 12: 1 step, shorter)."""
    from musegen.metrics import musical as M
    from musegen.metrics import tracks as T

    rows = [(0.0, 36, 1 / 24, DRUMS), (0.0, 60, 5 / 24, PIANO), (3 / 24, 60, 1 / 24, PIANO),
            (0.3, 38, 1 / 24, DRUMS), (1.0, 62, 0.115, PIANO)]  # fmt: skip
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (beat, pitch, beats, track) in enumerate(rows):
        notes[i] = (round(beat * 24), pitch, 0.0, beats, 100, track)
    notes["step"][1:] = np.diff([r[0] for r in rows])
    ranges = TrackRanges(low={PIANO: 0.0, DRUMS: 0.0}, high={PIANO: 127.0, DRUMS: 127.0})
    at = {r: piece_track_stats(notes, [DRUMS, PIANO], ranges, r) for r in (12, 24)}
    assert at[24]["DP/Drums"] == 0.5 and at[12]["DP/Drums"] == 1.0
    assert at[24]["overlap/Piano"] == pytest.approx(1 / 3) and at[12]["overlap/Piano"] == 0.0
    assert at[24]["QN/Piano"] == pytest.approx(2 / 3) and at[12]["QN/Piano"] == pytest.approx(1 / 3)
    for r in (12, 24):
        assert at[r]["DP/Drums"] == M.drum_pattern_consistency(notes, r)
        assert at[r]["overlap/Piano"] == T.same_pitch_overlap(notes, PIANO, r)
        assert at[r]["QN/Piano"] == M.qualified_note_rate(notes, PIANO, r)
    # the whole table reads it as well
    table = T.track_table({"a": [notes]}, [DRUMS, PIANO], ranges, 12)
    assert table["DP/Drums"]["a"]["mean"] == 1.0
    # one note on a track is enough for its pitch statistics
    one = piece_track_stats(notes[:2], [DRUMS, PIANO], ranges)
    assert one["pitch_mean/Piano"] == 60.0 and one["pitch_std/Piano"] == 0.0
    assert one["overlap/Piano"] == 0.0 and one["QN/Piano"] == 1.0
    assert one["pitch_class_entropy"] == 0.0  # one pitch class
    assert piece_track_stats(_song(), [PIANO, BASS], ranges)["pitch_class_entropy"] == (
        pytest.approx(-(1 / 6 * np.log2(1 / 6) + 2 / 6 * np.log2(2 / 6) + 3 / 6 * np.log2(3 / 6)))
    )  # C once, E twice, G three times


def test_tonal_distance_counts_beats_at_the_resolution_given() -> None:
    """The hand-made song at 12 steps a beat has the tonal distance it has at 24, and a
    beat where the bass sounds for one step only still counts."""
    song = _song()
    at_12 = song.copy()
    at_12["time"] //= 2
    assert tonal_distance(at_12, PIANO, BASS, 12) == pytest.approx(
        tonal_distance(song, PIANO, BASS)
    )
    # add a bass C2 one step long in beat 2 (where the Piano's G sounds), a piano note in
    # beat 4 against a bass note there, and one step of piano in beat 5, the last: all join
    # the mean
    extra = np.zeros(5, dtype=NOTE_DTYPE)
    extra[0] = (48, 36, 0.0, 1 / 24, 100, BASS)
    extra[1] = (96, 62, 0.0, 1.0, 100, PIANO)
    extra[2] = (96, 38, 0.0, 1.0, 100, BASS)
    extra[3] = (120, 64, 0.0, 1 / 24, 100, PIANO)  # beat 5: one step of E4 on the Piano
    extra[4] = (120, 40, 0.0, 1.0, 100, BASS)  # against a beat of E2
    more = np.sort(np.concatenate([song, extra]), order=("time", "track", "pitch"))
    more["step"][1:] = np.diff(more["time"]) / 24

    def centroid(counts: dict[int, int]) -> np.ndarray:
        chroma = np.zeros(12)
        for pc, n in counts.items():
            chroma[pc] = n
        return TONAL_MATRIX @ (chroma / chroma.sum())

    beats = [
        ({0: 24, 4: 24, 7: 24}, {4: 24}),  # beat 0: C major against E
        ({0: 24, 4: 24, 7: 24}, {7: 24}),  # beat 1: against G
        ({7: 24}, {0: 1}),  # beat 2: G against one step of C
        ({2: 24}, {2: 24}),  # beat 4: D against D
        ({4: 1}, {4: 24}),  # beat 5: E against E
    ]
    want = np.mean([np.linalg.norm(centroid(a) - centroid(b)) for a, b in beats])
    assert tonal_distance(more, PIANO, BASS) == pytest.approx(want)


def test_a_tracks_polyphony_counts_its_onsets_as_the_piece_rounds_them() -> None:
    """At 12 steps a beat a kick 1/24 beat in rounds to step 1 and the Piano's E4 1/24 beat
    later to step 2, where the C4 (two steps from 0) has ended: one key at a time. Taken
    from the Piano's own 24-step times (E4 at 2/24 beat, step 1) the two would overlap."""
    notes = np.zeros(3, dtype=NOTE_DTYPE)
    notes[0] = (0, 60, 0.0, 4 / 24, 100, PIANO)
    notes[1] = (1, 36, 1 / 24, 1 / 24, 100, DRUMS)
    notes[2] = (2, 64, 1 / 24, 4 / 24, 100, PIANO)
    ranges = TrackRanges(low={}, high={})
    assert piece_track_stats(notes, [DRUMS, PIANO], ranges, 12)["polyphony/Piano"] == 1.0
