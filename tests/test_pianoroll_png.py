"""Pianoroll PNGs read back pixel by pixel: no note vanishes, ``bars=`` shares a time axis,
and a piano panel is tall enough to read.

Geometry is computed by hand from the figure's layout at dpi 100: 1200 px wide, the axes
from x = 0.08 * 1200 = 96 to 0.99 * 1200 = 1188 (1092 px), the first panel's top 0.3 in
(30 px) below the top and the last panel's bottom 0.45 in (45 px) above the bottom.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.render import pianoroll_png as P
from tests.conftest import SHARED_DATA, need

RES = 24
BAR = 4 * RES  # 96 steps a bar
LEFT, RIGHT = 96.0, 1188.0  # the axes' x extent, pixels


def _notes(time: np.ndarray, pitch: np.ndarray, track: np.ndarray, length: int = 1) -> np.ndarray:
    """Notes ``length`` steps long at onsets ``time``, sorted as song_to_notes sorts them,
    with steps that agree with the times (so ``time`` gives the onsets)."""
    notes = np.zeros(len(time), dtype=NOTE_DTYPE)
    notes["time"], notes["pitch"], notes["track"] = time, pitch, track
    notes = notes[np.lexsort((notes["pitch"], notes["track"], notes["time"]))]
    notes["step"] = np.diff(notes["time"], prepend=notes["time"][:1]) / RES
    notes["duration"] = length / RES
    notes["velocity"] = 40 + np.arange(len(time)) % 88  # quiet ones too
    return notes


def _coloured(path: Path) -> np.ndarray:
    """Pixels of a note colour, shape=(H, W) bool: clearly not grey, so neither white, the
    black frame and primer line, nor the grey bar lines and primer shading count."""
    with Image.open(path) as img:
        rgb = np.asarray(img.convert("RGB")).astype(np.int64)
    return rgb.max(axis=2) - rgb.min(axis=2) > 50


def _grown(mask: np.ndarray) -> np.ndarray:
    """``mask`` dilated by one pixel in x and y: a +-1 px tolerance without a loop."""
    out = mask.copy()
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    grown = out.copy()
    grown[1:] |= out[:-1]
    grown[:-1] |= out[1:]
    return grown


def _lit(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether each (x, y) point, in pixels, has a note-coloured pixel within +-1 px."""
    return _grown(mask)[np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)]


def _note_xy(
    notes: np.ndarray, span: int, box: tuple[float, float, float, float], pitches: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centre of each note's onset step: time runs over ``span`` steps from the box's
    left to right, pitch rows ``lo..hi-1`` from its bottom to top."""
    left, top, right, bottom = box
    lo, hi = pitches
    x = left + (notes["time"] + 0.5) / span * (right - left)
    y = top + (hi - 0.5 - notes["pitch"]) / (hi - lo) * (bottom - top)
    return x, y


# Two narrow panels (a 340 px picture): 3.4 in less the 0.75 in of title and bar numbers is
# shared by two axes and one gap of 0.08 axes, so each axes is 2.65 / 2.08 in tall.
AXES_2 = 265.0 / 2.08  # 127.40 px
TWO_BOXES = (
    (LEFT, 30.0, RIGHT, 30.0 + AXES_2),
    (LEFT, 30.0 + 1.08 * AXES_2, RIGHT, 30.0 + 2.08 * AXES_2),
)
DRUM_PITCHES = np.array([36, 38, 42, 46, 49, 51])  # rows 34..53 shown
PIANO_LO, PIANO_HI = 52, 84  # rows 50..86 shown: narrow, the panel keeps its 127 px


def _one_step_piece(n_bars: int, seed: int) -> np.ndarray:
    """Drum hits and piano notes, each one step long, at irregular onsets over ``n_bars``:
    some on downbeats (where bar lines are drawn), one at the first and one at the last step
    (against the frame)."""
    rng = np.random.default_rng(seed)
    span = n_bars * BAR
    drum_t = np.unique(np.r_[0, rng.choice(span, 150, replace=False), BAR * np.arange(1, 9)])
    piano_t = np.unique(np.r_[rng.choice(span, 150, replace=False), span - 1])
    time = np.r_[drum_t, piano_t]
    pitch = np.r_[
        rng.choice(DRUM_PITCHES, drum_t.size), rng.integers(PIANO_LO, PIANO_HI + 1, piano_t.size)
    ]
    pitch[drum_t.size : drum_t.size + 2] = (PIANO_LO, PIANO_HI)  # the panel's exact range
    pitch[:2] = (DRUM_PITCHES.min(), DRUM_PITCHES.max())
    track = np.r_[np.zeros(drum_t.size, int), np.ones(piano_t.size, int)]
    return _notes(time, pitch, track)


@pytest.mark.parametrize("n_bars", [64, 32])
def test_every_one_step_note_keeps_a_lit_pixel(n_bars: int, tmp_path: Path) -> None:
    """6144 (or 3072) steps on 1092 px: each one-step note must still light its column."""
    notes = _one_step_piece(n_bars, seed=n_bars)
    path = P.plot_pianoroll(notes, tmp_path / "long.png", track_ids=[0, 1])
    mask = _coloured(path)
    assert mask.shape == (340, 1200)
    windows = {0: (34, 54), 1: (PIANO_LO - 2, PIANO_HI + 3)}
    for panel, tid in enumerate((0, 1)):
        mine = notes[notes["track"] == tid]
        x, y = _note_xy(mine, n_bars * BAR, TWO_BOXES[panel], windows[tid])
        lit = _lit(mask, x, y)
        assert lit.all(), (tid, mine["time"][~lit][:10], int((~lit).sum()), mine.size)
    # and nothing coloured outside the panels (the notes are where the panels say)
    inside = np.zeros_like(mask)
    for left, top, right, bottom in TWO_BOXES:
        inside[int(top) : int(np.ceil(bottom)), int(left) : int(np.ceil(right)) + 1] = True
    assert not (mask & ~inside).any()


def test_layout_helper_gives_the_geometry_by_hand() -> None:
    notes = _one_step_piece(8, seed=0)
    layout = P.pianoroll_layout(notes)
    assert layout.size == (1200, 340)
    assert layout.tracks == (0, 1)
    assert layout.pitches == ((34, 54), (50, 87))
    np.testing.assert_allclose(layout.boxes, TWO_BOXES)
    assert layout.columns == 1092


def _three_bars() -> np.ndarray:
    """Three bars of piano, a beat-long note on every beat, rising by a semitone."""
    beats = np.arange(12)
    return _notes(beats * RES, 60 + beats, np.ones(12, int), length=RES)


def _note_columns(path: Path) -> np.ndarray:
    """The pixel columns (x) that hold a note colour anywhere."""
    return np.flatnonzero(_coloured(path).any(axis=0))


def test_bars_gives_a_shared_time_axis(tmp_path: Path) -> None:
    """3 bars on a 9-bar axis fill its first third (1092 / 3 = 364 px), on their own axis
    all of it; an axis shorter than the piece is the piece's own."""
    piece = _three_bars()
    own = P.plot_pianoroll(piece, tmp_path / "own.png", title="x")
    nine = P.plot_pianoroll(piece, tmp_path / "nine.png", bars=9)
    np.testing.assert_array_equal(_note_columns(own), np.arange(96, 1188))
    np.testing.assert_array_equal(_note_columns(nine), np.arange(96, 96 + 364))
    # the bar lines still show in the silence (grey, under the notes): at x = 96 + k * 1092 / 9
    with Image.open(nine) as img:
        grey = np.asarray(img.convert("L"))[31:144]
    bar_x = np.rint(96 + np.arange(4, 9) * 1092 / 9).astype(int)
    assert ((grey[:, bar_x] < 230).sum(axis=0) > 20).all()
    assert not (grey[:, bar_x + 3] < 230).any()
    short = P.plot_pianoroll(piece, tmp_path / "short.png", title="x", bars=2)
    with Image.open(own) as a, Image.open(short) as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="bars"):
        P.plot_pianoroll(piece, tmp_path / "none.png", bars=0)


def test_primer_line_on_a_shared_axis(tmp_path: Path) -> None:
    """The primer (the first 4 notes: one bar) ends at bar 1 of 9: x = 96 + 1092 / 9."""
    path = P.plot_pianoroll(_three_bars(), tmp_path / "p.png", primer_len=4, bars=9)
    with Image.open(path) as img:
        grey = np.asarray(img.convert("L"))[30:145, 97:1187]  # inside the one panel
    column = 97 + int(np.argmax((grey < 60).sum(axis=0)))
    assert abs(column - (96 + 1092 / 9)) <= 1, column


def test_a_five_octave_piano_panel_is_tall(tmp_path: Path) -> None:
    """C2 (36) to C7 (96) shows rows 34..98: 65 rows at 3 px is a 195 px axes, and the
    picture 30 + 195 + 45 = 270 px tall (a narrow one-panel picture is 190)."""
    pitch = np.array([36, 96, 48, 60, 72, 84])
    notes = _notes(np.arange(6) * RES, pitch, np.ones(6, int), length=RES)
    path = P.plot_pianoroll(notes, tmp_path / "tall.png")
    mask = _coloured(path)
    assert mask.shape == (270, 1200)
    rows = np.flatnonzero(mask.any(axis=1))
    # C7's row is 2 rows below the top (30 + 2 * 3), C2's 3 rows above the bottom (225 - 9)
    assert (rows.min(), rows.max()) == (36, 218)
    narrow = P.plot_pianoroll(notes[2:4], tmp_path / "narrow.png")
    with Image.open(narrow) as img:
        assert img.size == (1200, 190)


def test_drum_rows_are_never_resampled_away(tmp_path: Path) -> None:
    """A hit on each of the 128 drum keys: rows 0..127 need 128 px (the narrow axes has 115),
    so the panel grows to one pixel a row (30 + 128 + 45 = 203 px) and every hit is lit."""
    order = np.random.default_rng(3).permutation(128)  # hits 12 steps (8.5 px) apart
    notes = _notes(np.arange(128) * 12, order, np.zeros(128, int))
    path = P.plot_pianoroll(notes, tmp_path / "kit.png")
    mask = _coloured(path)
    assert mask.shape == (203, 1200)
    x, y = _note_xy(notes, 16 * BAR, (LEFT, 30.0, RIGHT, 158.0), (0, 128))
    assert _lit(mask, x, y).all()


def test_a_real_pop909_piece_loses_no_note(tmp_path: Path) -> None:
    """POP909 song 002 (one Piano track, 60 bars, pitches 37-95): every onset is lit, and
    its panel shows rows 35..97, 63 rows at 3 px (189 px; picture 30 + 189 + 45 = 264)."""
    notes = song_to_notes(midi_to_song(need(SHARED_DATA / "pop909" / "002.mid")))
    path = P.plot_pianoroll(notes, tmp_path / "002.png")
    mask = _coloured(path)
    assert mask.shape == (264, 1200)
    span = -(-int((notes["time"] + np.rint(notes["duration"] * RES)).max()) // BAR) * BAR
    x, y = _note_xy(notes, span, (LEFT, 30.0, RIGHT, 219.0), (35, 98))
    assert _lit(mask, x, y).all()
