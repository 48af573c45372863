"""The evaluation over time: per-bar features, structure and semitone clusters computed by
hand, the controls of form built as they say, and ranked below real Lakh songs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from musegen.data.note_timing import note_onsets
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.evaluation.logging import report_scalars
from musegen.evaluation.markdown import over_time_notes
from musegen.evaluation.samples import bar_excerpt, cut_bars, form_controls, rebased, same_notes
from musegen.metrics.bars import BarLayout, bar_feature_names, bar_features, bar_similarity
from musegen.metrics.controls import break_key, loop_bar, scramble_tracks, shuffle_bars
from musegen.metrics.over_time import over_time
from musegen.metrics.structure import structure
from musegen.metrics.tracks import TrackRanges, piece_track_stats, semitone_cluster_share
from tests.conftest import LMD_MIDI, need

DRUMS, PIANO, GUITAR, BASS, STRINGS = 0, 1, 2, 3, 4
BAR = 96  # time steps a 4/4 bar at 24 a beat


def _notes(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    """``(time, pitch, length in steps, track)`` rows as a note array in time order."""
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (time, pitch, length, track) in enumerate(sorted(rows)):
        notes[i] = (time, pitch, 0.0, length / 24, 100, track)
    notes["step"][0] = notes["time"][0] / 24
    notes["step"][1:] = np.diff(notes["time"]) / 24
    return notes


FOUR_BARS = [
    *((t, 36, 1, DRUMS) for t in (0, 24, 48, 72)),
    (0, 60, 48, PIANO),
    (0, 64, 48, PIANO),
    (0, 67, 48, PIANO),
    (0, 36, 96, BASS),
    (96, 65, 24, PIANO),
    (120, 59, 24, PIANO),
    (96, 31, 48, BASS),
    (192, 36, 1, DRUMS),
    (192, 60, 96, PIANO),
    (192, 61, 48, PIANO),
    (264, 64, 48, PIANO),
    (288, 36, 1, DRUMS),
    (288, 32, 24, BASS),
]
"""``(time, pitch, length, track)`` of four bars:

1. kicks on every beat; Piano C4 E4 G4 for two beats; Bass C2 for the whole bar.
2. Piano F4 then B3 (a beat each); Bass G1 for two beats.
3. a kick; Piano C4 for the whole bar, C#4 for two beats, E4 from beat 4 for two beats
   (held into bar 4).
4. a kick; Bass Ab1 for a beat.
"""


def _four_bars(offset: int = 0) -> np.ndarray:
    """``FOUR_BARS``, every note ``offset`` steps later."""
    return _notes([(t + offset, p, n, k) for t, p, n, k in FOUR_BARS])


TRACKS = [DRUMS, PIANO, BASS]
NAN = math.nan
# The key of bars 1-4: pitch classes C x3, E x2, G x2, F, B, C#, Ab (11 pitched notes);
# C major (or A minor) holds 9 of them, F major and G major 8: the scale is C major.
BY_HAND = {
    "notes/Drums": [4, 0, 1, 1],
    "notes/Piano": [3, 2, 3, 0],
    "notes/Bass": [1, 1, 0, 1],
    "duration/Piano": [2.0, 1.0, 8 / 3, NAN],  # E4 sounds in bar 4 but starts in bar 3
    "duration/Bass": [4.0, 2.0, NAN, 1.0],
    # (pitch, step) pairs sounding / steps sounding, drums left out:
    # bar 1: 48 steps of 4 pitches, 48 of the bass alone; bar 2: 48 steps of 2 pitches, 48
    # silent; bar 3: 48 steps of C4 + C#4, 24 of C4, 24 of C4 + E4; bar 4: 24 steps of E4 +
    # Ab1, then silence
    "polyphony": [(48 * 4 + 48) / 96, 2.0, (48 * 2 + 24 + 24 * 2) / 96, 2.0],
    # C, E, G, C; F, B, G; C, C#, E; Ab
    "pitch_class_entropy": [1.5, math.log2(3), math.log2(3), 0.0],
    "in_key": [1.0, 1.0, 2 / 3, 0.0],
    # sets of (track, pitch, sixteenth): bar 3 {kick@0, C4@0, C#4@0, E4@12}, bar 4 {kick@0,
    # Ab1@0}: one shared of 4 and 2; bars 1-2 and 2-3 share nothing
    "previous_bar": [NAN, 0.0, 0.0, 1 / math.sqrt(8)],
}


def test_per_bar_features_of_a_built_piece_by_hand() -> None:
    names = bar_feature_names(TRACKS)
    assert names == list(BY_HAND)
    values = bar_features(_four_bars(), TRACKS, BarLayout(bars=4))
    assert values.shape == (4, len(names))
    for j, name in enumerate(names):
        np.testing.assert_allclose(values[:, j], BY_HAND[name], err_msg=name)
    # the key is the piece's own: up a minor third, every feature stays
    up = [(t, p + 3 * (k != DRUMS), n, k) for t, p, n, k in FOUR_BARS]
    np.testing.assert_allclose(bar_features(_notes(up), TRACKS, BarLayout(bars=4)), values)
    # a fifth, empty bar: no notes, nothing pitched to measure, nothing to repeat
    fifth = bar_features(_four_bars(), TRACKS, BarLayout(bars=5))[4]
    np.testing.assert_allclose(fifth, [0, 0, 0, NAN, NAN, NAN, NAN, NAN, 0.0])
    # a fifth bar of Bb, Eb and Ab (eight of them): the key still comes from bars 1-4 alone
    flats = [(4 * BAR + 12 * i, (58, 63, 56)[i % 3], 12, PIANO) for i in range(8)]
    five = bar_features(_notes(FOUR_BARS + flats), TRACKS, BarLayout(bars=5))
    np.testing.assert_allclose(five[:4], values)
    assert five[4, names.index("in_key")] == 0.0


def test_a_continuation_counts_its_bars_from_its_first_note_and_drops_the_cut_last() -> None:
    # the same piece two bars and ten steps into a song (after a primer): bar 1 is the bar
    # of its first note; the bar of its last note (cut by the note count) is not read
    values = bar_features(_four_bars(2 * BAR + 10), TRACKS, BarLayout(bars=None, max_bars=6))
    assert values.shape == (6, len(BY_HAND))
    moved = bar_features(_four_bars(10), TRACKS, BarLayout(bars=3))
    np.testing.assert_allclose(values[:3], moved)
    assert np.isnan(values[3:]).all()
    # the key comes from the bars read: without the Ab of bar 4, still C major
    assert values[2, -2] == pytest.approx(2 / 3)


def test_bar_similarity_is_the_cosine_of_the_bars_onset_sets() -> None:
    s = bar_similarity(_four_bars(), BarLayout(bars=4))
    # bar 1 {4 kicks, C4 E4 G4, C2}: 8 onsets; bar 3 shares the kick at 0 and C4 at 0 of 4
    assert s[0, 2] == pytest.approx(2 / math.sqrt(8 * 4))
    assert s[0, 3] == pytest.approx(1 / math.sqrt(8 * 2))  # the kick at 0
    np.testing.assert_allclose(np.diag(s), 1.0)
    np.testing.assert_allclose(s, s.T)


def _bar(pitch: int) -> list[tuple[int, int, int, int]]:
    """One bar of four Piano notes, a beat each, all of ``pitch``."""
    return [(t, pitch, 24, PIANO) for t in (0, 24, 48, 72)]


def _bars(*pitches: int) -> np.ndarray:
    return _notes([(t + i * BAR, p, n, k) for i, q in enumerate(pitches) for t, p, n, k in _bar(q)])


def test_structure_of_bars_by_hand() -> None:
    layout = BarLayout(bars=None)  # read like a continuation: the last bar is not read
    # A B A B: lag 1 scores 0, lag 2 scores 1; off the diagonal, 4 of 12 pairs are alike
    abab = structure(_bars(60, 62, 60, 62, 64), layout)
    assert abab["structureness"] == pytest.approx(1.0)
    assert abab["structure_contrast"] == pytest.approx(1 - 4 / 12)
    # the same bars in another order, A A B B: lag 1 scores 2/3, lag 2 scores 0
    aabb = structure(_bars(60, 60, 62, 62, 64), layout)
    assert aabb["structureness"] == pytest.approx(2 / 3)
    assert aabb["structure_contrast"] == pytest.approx(2 / 3 - 4 / 12)
    # one bar looped: every lag scores 1, nothing stands above the piece's mean similarity
    loop = structure(_bars(*[60] * 9), layout)
    assert loop == {"structureness": 1.0, "structure_contrast": 0.0}
    # lags reach half the bars read: A B C A repeats at lag 3, one pair, not read
    assert structure(_bars(60, 62, 64, 60, 65), layout)["structureness"] == 0.0
    # a continuation of two bars reads one: nothing to repeat
    assert math.isnan(structure(_bars(60, 62), layout)["structureness"])


def test_semitone_cluster_share_by_hand() -> None:
    notes = _notes(
        [
            (0, 60, 48, PIANO),  # C4 on beats 1-2
            (24, 61, 48, GUITAR),  # C#4 on beats 2-3: a semitone from C4 on beat 2
            (0, 40, 48, BASS),  # E2 on beats 1-2
            (0, 73, 12, STRINGS),  # C#5: a minor ninth from C4, not a semitone
            (36, 62, 12, STRINGS),  # D4 beside C#4 and C4: a cluster of three is one step
            (84, 50, 12, STRINGS),  # D3 after a silence of half a beat
            (0, 41, 1, DRUMS),  # drum keys a semitone from E2: drums are left out
            (0, 39, 1, DRUMS),
        ]
    )
    # sounding: steps 0-71 and 84-95 (84 steps); C4 and C#4 together: steps 24-47
    assert semitone_cluster_share(notes) == pytest.approx(24 / 84)
    tracks = [DRUMS, PIANO, GUITAR, BASS, STRINGS]
    stats = piece_track_stats(notes, tracks, TrackRanges({}, {}))
    assert stats["semitone_clusters"] == pytest.approx(24 / 84)
    assert math.isnan(semitone_cluster_share(_notes([(0, 36, 1, DRUMS), (0, 37, 1, DRUMS)])))


def test_shuffle_bars_moves_whole_bars_within_the_range() -> None:
    piece = _bars(60, 62, 64, 65, 67)
    out = shuffle_bars(piece, np.random.default_rng(3), 1, 4)
    bar_pitch = {int(t) // BAR: int(p) for t, p in zip(out["time"], out["pitch"], strict=True)}
    assert bar_pitch[0] == 60 and bar_pitch[4] == 67  # outside [1, 4): in place
    assert sorted(bar_pitch[b] for b in (1, 2, 3)) == [62, 64, 65]
    assert [bar_pitch[b] for b in (1, 2, 3)] != [62, 64, 65]  # this seed moves them
    np.testing.assert_array_equal(out["time"] % BAR, piece["time"] % BAR)
    np.testing.assert_array_equal(note_onsets(out), out["time"])  # steps agree with times


def test_loop_bar_repeats_one_bar_of_the_range() -> None:
    piece = _bars(60, 62, 64, 65)
    out = loop_bar(piece, np.random.default_rng(0), 1, 3)
    bar = out["time"] // BAR
    assert set(out["pitch"][bar == 0]) == {60}  # before lo: kept
    looped = {int(p) for p in out["pitch"][bar >= 1]}
    assert looped in ({62}, {64})  # one bar of [1, 3), every bar from 1 on
    assert sorted(set(bar.tolist())) == [0, 1, 2, 3]  # as many notes as from bar 1 on
    np.testing.assert_array_equal(note_onsets(out), out["time"])


def test_form_controls_of_a_continuation_keep_its_first_and_last_bar() -> None:
    # a continuation from bar 3 of its song: bars of 4, 2, 3, 4 and 4 notes
    sizes = {60: 4, 62: 2, 64: 3, 65: 4, 67: 4}
    piece = _notes(
        [
            (3 * BAR + i * BAR + 24 * k, p, 24, PIANO)
            for i, p in enumerate(sizes)
            for k in range(sizes[p])
        ]
    )
    rows = form_controls([piece], BarLayout(), seed=0, fill=same_notes)
    shuffled, looped = rows["bars shuffled"][0], rows["bar looped"][0]
    by_bar = {int(b): set(shuffled["pitch"][shuffled["time"] // BAR == b]) for b in range(3, 8)}
    assert by_bar[3] == {60} and by_bar[7] == {67}  # shared with the primer; cut
    assert sorted(p for b in (4, 5, 6) for p in by_bar[b]) == [62, 64, 65]
    assert len(looped) == len(piece)  # cut to the real continuation's notes
    assert set(looped["pitch"][looped["time"] // BAR == 3]) == {60}
    assert len(set(looped["pitch"][looped["time"] // BAR > 3])) == 1


# --- on real Lakh songs --------------------------------------------------------------------

BARS = 16
MARGIN = 0.05
"""How far real music must stand from a control of form on the structure measures. Measured
on these excerpts: structure contrast real 0.171, bars shuffled 0.064, bar looped 0;
structureness real 0.487 (10th-90th percentile 0.10-0.80), bars shuffled 0.380, looped 1."""
OA_MARGIN = 0.02
"""Per-bar OA by blocks of four bars: real 0.926-0.941 (its drop -0.006), bars shuffled
within 0.007 of it, bar looped 0.872-0.885, the piece that falls apart after bar 8 0.929 in
bars 1-4 and 0.900 in bars 13-16 (drop 0.029)."""


@pytest.fixture(scope="module")
def lakh() -> dict:
    """16-bar excerpts of real Lakh songs: 48 of the last songs (real), 96 of the first
    (the reference), and the two controls of form of the real ones."""
    from musegen.data.midi_to_lpd import MidiReadError, midi_to_song
    from musegen.data.pianoroll_notes import song_to_notes

    songs = []
    for path in sorted(need(LMD_MIDI).glob("*.mid")):
        try:
            notes = song_to_notes(midi_to_song(path))
        except MidiReadError:
            continue
        if len(notes) and int(notes["time"].max()) // BAR + 1 >= BARS:
            songs.append(notes)

    def excerpts(pool: list[np.ndarray], count: int, seed: int) -> list[np.ndarray]:
        out = []
        for i in range(count):
            song = pool[i % len(pool)]
            n_bars = int(song["time"].max()) // BAR + 1
            first = int(np.random.default_rng([seed, i]).integers(0, n_bars - BARS + 1))
            out.append(rebased(bar_excerpt(song, first, BARS, BAR), BAR))
        return [p for p in out if len(p)]

    real, reference = excerpts(songs[100:], 48, 1), excerpts(songs[:100], 96, 2)
    layout = BarLayout(bars=BARS)
    rows = {"real vs real": real} | form_controls(
        real, layout, seed=0, fill=lambda notes, r: cut_bars(notes, BARS, BAR)
    )
    # real bars 1-8, then every bar in another key, its instruments mixed up: a piece that
    # falls apart half way
    rows["drifts"] = [
        np.concatenate([p[p["time"] < 8 * BAR], scramble_tracks(break_key(late, rng), rng)])
        for p, late, rng in (
            (p, p[p["time"] >= 8 * BAR], np.random.default_rng(i)) for i, p in enumerate(real)
        )
    ]
    return {"rows": rows, "result": over_time(rows, reference, [0, 1, 2, 3, 4], layout)}


def test_real_music_has_more_form_than_its_bars_shuffled_or_one_bar_looped(lakh: dict) -> None:
    rows = lakh["result"]["rows"]
    s = {row: r["structure"] for row, r in rows.items()}
    real, shuffled, looped = s["real vs real"], s["bars shuffled"], s["bar looped"]
    # the contrast ranks real above both
    contrast = "structure_contrast"
    assert real[contrast]["mean"] > shuffled[contrast]["mean"] + MARGIN, s
    assert real[contrast]["mean"] > looped[contrast]["mean"] + MARGIN, s
    # structureness: a loop far above real's spread, shuffled bars below real
    assert looped["structureness"]["mean"] > real["structureness"]["p90"] + MARGIN, s
    assert looped["structureness"]["in_band"] == 0.0
    assert shuffled["structureness"]["mean"] < real["structureness"]["mean"] - MARGIN, s
    assert real["structureness"]["in_band"] > 0.6  # held-out real music in the reference's band


def test_per_bar_overlap_ranks_the_loop_below_real_bars(lakh: dict) -> None:
    rows = lakh["result"]["rows"]
    real, looped, shuffled = (
        np.array(rows[r]["oa_blocks"]) for r in ("real vs real", "bar looped", "bars shuffled")
    )
    assert lakh["result"]["drop"] == {"from": "1-4", "to": "13-16"}
    assert (real > looped + OA_MARGIN).all(), (real, looped)
    # shuffled bars are real bars: bar by bar they look real (their form is what breaks)
    assert np.abs(shuffled - real).max() < OA_MARGIN, (real, shuffled)
    assert abs(rows["real vs real"]["oa_drop"]) < OA_MARGIN  # real music does not drift
    drifts = rows["drifts"]  # real bars 1-8, then in broken keys: the drop sees it
    assert drifts["oa_blocks"][0] == pytest.approx(real[0])
    assert drifts["oa_drop"] > rows["real vs real"]["oa_drop"] + OA_MARGIN, drifts["oa_blocks"]


def test_the_headline_reaches_the_scalars_and_the_notes(lakh: dict) -> None:
    report = {"model": "bar looped", "kinds": {"scratch": {"over_time": lakh["result"]}}}
    scalars = report_scalars(report)
    rows = lakh["result"]["rows"]
    assert scalars["eval/scratch/bar_oa_drop"] == rows["bar looped"]["oa_drop"]
    assert scalars["eval/scratch/structureness"] == 1.0
    real = rows["real vs real"]["structure"]["structure_contrast"]["mean"]
    assert scalars["eval/scratch/structure_contrast/real_vs_real"] == real
    assert (
        scalars["eval/scratch/bar_oa/13-16/bars_shuffled"] == rows["bars shuffled"]["oa_blocks"][3]
    )
    notes = over_time_notes(report["kinds"]["scratch"], "bar looped")
    assert "in bars 1-4" in notes and "in bars 13-16" in notes and "structureness 1.00" in notes
