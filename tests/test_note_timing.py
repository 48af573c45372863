"""The one timing rule (``musegen.data.note_timing``), on hand-computed notes and real music."""

from __future__ import annotations

import numpy as np

from musegen.data.lpd_io import read_lpd_npz
from musegen.data.note_timing import (
    continue_times,
    expand_runs,
    model_track_lut,
    note_lengths,
    note_onsets,
    to_grid,
)
from musegen.data.pianoroll_notes import NOTE_DTYPE, notes_to_song, song_to_notes
from tests.conftest import LPD5_FILE, need


def _notes(steps_beats: list[float], times: list[int] | None = None) -> np.ndarray:
    notes = np.zeros(len(steps_beats), dtype=NOTE_DTYPE)
    notes["step"] = steps_beats
    notes["duration"] = 0.5
    if times is not None:
        notes["time"] = times
    return notes


def test_steps_are_rounded_one_by_one_then_added() -> None:
    # 0.3 beat = 7.2 steps -> 7 each: three of them make 21, not rint(0.9 * 24) = 22
    notes = _notes([0.3, 0.3, 0.3], times=[0, 0, 0])  # time does not agree: steps decide
    assert note_onsets(notes, 24).tolist() == [7, 14, 21]
    assert to_grid(np.array([0.3, 1 / 24, 2.0]), 24).tolist() == [7, 1, 48]


def test_time_wins_when_it_agrees_with_the_steps_after_the_first() -> None:
    # a window from the middle of a song: the first step refers to a note before it
    notes = _notes([0.5, 0.25, 0.0, 1.0], times=[960, 966, 966, 990])
    assert note_onsets(notes, 24).tolist() == [960, 966, 966, 990]
    notes["time"][-1] = 991  # one disagreement: the steps decide
    assert note_onsets(notes, 24).tolist() == [12, 18, 18, 42]


def test_lengths_are_at_least_one_step() -> None:
    notes = _notes([0, 0, 0])
    notes["duration"] = [0.0, 0.01, 1.5]
    assert note_lengths(notes, 24).tolist() == [1, 1, 36]


def test_continue_times_and_expand_runs() -> None:
    steps = np.array([[0, 6, 6], [24, 0, 12]])
    assert continue_times(steps, np.array([100, 0])).tolist() == [[100, 106, 112], [24, 24, 36]]
    assert expand_runs(np.array([3, 10]), np.array([2, 3])).tolist() == [3, 4, 10, 11, 12]
    assert expand_runs(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).size == 0


def test_model_track_lut() -> None:
    assert model_track_lut([1]).tolist() == [-1, 0, -1, -1, -1]  # Piano-only: Piano is 0
    assert model_track_lut([3, 0]).tolist() == [1, -1, -1, 0, -1]


def test_a_real_song_keeps_its_onsets_through_the_rule() -> None:
    notes = song_to_notes(read_lpd_npz(need(LPD5_FILE)))
    assert note_onsets(notes, 24).tolist() == notes["time"].tolist()
    window = notes[1000:1400]  # from the middle: absolute onsets are kept
    assert note_onsets(window, 24).tolist() == window["time"].tolist()
    again = song_to_notes(notes_to_song(notes))
    np.testing.assert_array_equal(again, notes)
