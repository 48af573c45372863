"""LPD npz files read exactly as pypianoroll and muspy read them (real LPD files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musegen.data.lpd_io import read_lpd_npz, write_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS, drum_track
from tests.conftest import LPD5_FILE as LPD5
from tests.conftest import LPD17_FILE as LPD17
from tests.conftest import need as _need


def test_lpd5_file_note_counts() -> None:
    notes = song_to_notes(read_lpd_npz(_need(LPD5)))
    counts = np.bincount(notes["track"], minlength=5)
    assert dict(zip(LPD5_TRACKS, counts.tolist(), strict=True)) == {
        "Drums": 2098,
        "Piano": 158,
        "Guitar": 974,
        "Bass": 819,
        "Strings": 2102,
    }


def test_lpd5_notes_match_muspy() -> None:
    """Same (onset, pitch, duration) per track as muspy; velocities checked on the roll.

    muspy.from_pypianoroll decodes a uint8 roll with ``encode_velocity = dtype == bool``
    (inverted), so every velocity it returns is its default 64: we assert that pitfall too,
    so that the day muspy fixes it this test says so.
    """
    import muspy
    import pypianoroll

    multitrack = pypianoroll.load(_need(LPD5))
    music = muspy.from_pypianoroll(multitrack)
    notes = song_to_notes(read_lpd_npz(LPD5))
    for tid, (track, mtrack) in enumerate(zip(music.tracks, multitrack.tracks, strict=True)):
        assert mtrack.pianoroll.dtype == np.uint8
        ours = notes[notes["track"] == tid]
        theirs = sorted((n.time, n.pitch, n.duration) for n in track.notes)
        mine = sorted(
            zip(
                ours["time"].tolist(),
                ours["pitch"].tolist(),
                np.rint(ours["duration"] * 24).astype(int).tolist(),
                strict=True,
            )
        )
        assert mine == theirs, LPD5_TRACKS[tid]
        assert {n.velocity for n in track.notes} == {64}  # muspy's pitfall, see docstring
        np.testing.assert_array_equal(
            ours["velocity"], mtrack.pianoroll[ours["time"], ours["pitch"]]
        )


def test_lpd17_merges_to_lpd5_array_for_array() -> None:
    lpd5 = read_lpd_npz(_need(LPD5))
    merged = merge_to_lpd5(read_lpd_npz(_need(LPD17)))
    assert [t.name for t in merged.tracks] == list(LPD5_TRACKS)
    for ours, ref in zip(merged.tracks, lpd5.tracks, strict=True):
        assert ours.roll.shape == ref.roll.shape
        assert ours.roll.dtype == ref.roll.dtype
        np.testing.assert_array_equal(ours.roll.toarray(), ref.roll.toarray())
    np.testing.assert_array_equal(song_to_notes(merged), song_to_notes(lpd5))


def test_pypianoroll_save_reads_back_identically(tmp_path: Path) -> None:
    """A pypianoroll 1.x file (``pypianoroll.save``) reads as the legacy 0.x LPD file does."""
    import pypianoroll

    multitrack = pypianoroll.load(_need(LPD5))
    saved = tmp_path / "saved_by_pypianoroll.npz"
    pypianoroll.save(saved, multitrack)
    ours = read_lpd_npz(saved)
    assert ours.resolution == 24
    for track, ref in zip(ours.tracks, multitrack.tracks, strict=True):
        assert (track.name, track.program, track.is_drum) == (ref.name, ref.program, ref.is_drum)
        np.testing.assert_array_equal(track.roll.toarray(), ref.pianoroll)
    np.testing.assert_array_equal(ours.tempo, np.asarray(multitrack.tempo).reshape(-1))
    np.testing.assert_array_equal(song_to_notes(ours), song_to_notes(read_lpd_npz(LPD5)))


def test_write_lpd_npz_loads_with_pypianoroll(tmp_path: Path) -> None:
    import pypianoroll

    song = read_lpd_npz(_need(LPD5))
    path = write_lpd_npz(tmp_path / "ours.npz", song)
    multitrack = pypianoroll.load(path)
    assert multitrack.resolution == song.resolution
    for ref, track in zip(song.tracks, multitrack.tracks, strict=True):
        assert (track.name, track.program, track.is_drum) == (ref.name, ref.program, ref.is_drum)
        assert track.pianoroll.dtype == ref.roll.dtype
        np.testing.assert_array_equal(track.pianoroll, ref.roll.toarray())
    np.testing.assert_array_equal(np.asarray(multitrack.tempo).reshape(-1), song.tempo)


def test_the_drum_track_among_a_models_tracks_in_any_spelling() -> None:
    assert drum_track(LPD5_TRACKS) == 0
    assert drum_track(["Piano", "bass", "DRUMS"]) == 2  # the model's own order and spelling
    assert drum_track(["Piano"]) is None and drum_track(None) is None and drum_track([]) is None
