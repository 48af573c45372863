"""A sample's pianoroll as a PNG: one panel per LPD-5 track, stacked, as in LPD's figures.

The picture is drawn from ``notes_to_song`` (the rolls the sample's npz holds), with a
shared time axis in bars (4 beats), a dotted line at every bar, and the primer shaded and
closed by a dashed line, so the eye can tell what was given from what was generated.
Matplotlib's object API with the Agg canvas is used directly: no pyplot, no global state,
no display needed.

The picture must not lie by omission: every note keeps at least one lit pixel. Time is
max-pooled to at most one image column per pixel of the axes and a panel is at least one
pixel tall per pitch row, so imshow's nearest-neighbour resampling never drops a column or
a row; notes are drawn above the bar lines and the axes' frame, so neither hides a note.
Where the panels sit is computed once (``pianoroll_layout``), for drawing and for reading
a PNG back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from musegen.atomic import atomic_path
from musegen.data.note_timing import RESOLUTION, note_onsets
from musegen.data.pianoroll_notes import notes_to_song
from musegen.data.tracks import LPD5_IS_DRUM, LPD5_TRACKS

TRACK_COLOURS: tuple[str, ...] = ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#17becf")
"""Panel colour per LPD-5 track (Drums, Piano, Guitar, Bass, Strings), as MuseGAN's."""

FIG_WIDTH_IN = 12.0
"""Figure width: 1200 px at the default dpi."""
AXES_LEFT, AXES_RIGHT = 0.08, 0.99
"""The panels' horizontal extent, as fractions of the figure width (track names on the left)."""
TOP_IN, BOTTOM_IN = 0.3, 0.45
"""Room for the title above the panels and for the bar numbers below them."""
PANEL_IN = 1.5
"""Figure height per panel when no panel needs more (plus ``PANEL_EXTRA_IN``)."""
PANEL_EXTRA_IN = 0.4
"""Height added once, so a picture of ``n`` narrow panels is ``0.4 + 1.5 n`` in tall."""
HSPACE = 0.08
"""Gap between panels, as a fraction of a narrow panel's height."""
SEMITONE_IN = 0.03
"""A pitched panel's axes are at least this tall per pitch row shown (3 px at dpi 100), so
a piano part spanning five octaves is readable rather than squeezed into a strip."""


@dataclass(frozen=True)
class PianorollLayout:
    """Where a pianoroll PNG's panels sit: the one place the geometry is computed.

    Attributes
    ----------
    size : tuple of int
        ``(width, height)`` of the PNG, pixels.
    tracks : tuple of int
        LPD-5 id of each panel, top to bottom.
    pitches : tuple of (int, int)
        Per panel, the pitch rows shown: ``lo`` (bottom row) up to ``hi`` (excluded).
    boxes : tuple of (float, float, float, float)
        Per panel, its axes as ``(left, top, right, bottom)`` in pixels from the PNG's
        top-left corner; the time axis runs from ``left`` to ``right``.
    """

    size: tuple[int, int]
    tracks: tuple[int, ...]
    pitches: tuple[tuple[int, int], ...]
    boxes: tuple[tuple[float, float, float, float], ...]

    @property
    def columns(self) -> int:
        """Most image columns a panel may have: one per whole pixel of the axes' width.

        More columns than pixels would make imshow's nearest-neighbour resampling drop
        columns, and with them one-step notes.
        """
        left, _, right, _ = self.boxes[0]
        return math.floor(right - left)

    def rect(self, i: int) -> tuple[float, float, float, float]:
        """Panel ``i``'s axes as ``(left, bottom, width, height)`` figure fractions."""
        width, height = self.size
        left, top, right, bottom = self.boxes[i]
        return left / width, 1.0 - bottom / height, (right - left) / width, (bottom - top) / height


def _pitch_window(roll: np.ndarray) -> tuple[int, int]:
    """Pitch rows ``[lo, hi)`` a panel shows: the used pitches plus two rows either side
    (C4-ish rows 58-72 for an empty track), so the outermost notes do not touch the frame."""
    used = np.flatnonzero(roll.any(axis=0))
    if not used.size:
        return 58, 72
    return max(int(used[0]) - 2, 0), min(int(used[-1]) + 3, 128)


def _layout(rolls: Sequence[np.ndarray], track_ids: Sequence[int], dpi: int) -> PianorollLayout:
    """Panel geometry for dense ``(T, 128)`` rolls, one per entry of ``track_ids``.

    Every panel is at least as tall as in a picture of narrow panels (``PANEL_IN``
    per panel); a pitched panel grows to ``SEMITONE_IN`` per pitch row and any panel to one
    pixel per row, so no row is lost to resampling. Sizes are rounded up to whole pixels.
    """
    n = len(track_ids)
    pitches = [_pitch_window(roll) for roll in rolls]
    rows = np.array([hi - lo for lo, hi in pitches], dtype=np.float64)
    is_drum = np.array([LPD5_IS_DRUM[t] for t in track_ids], dtype=bool)
    base = (PANEL_IN * n + PANEL_EXTRA_IN - TOP_IN - BOTTOM_IN) / (n + HSPACE * (n - 1))
    per_row = np.where(is_drum, 1.0 / dpi, max(SEMITONE_IN, 1.0 / dpi))
    heights = np.maximum(base, rows * per_row) * dpi  # axes heights, pixels
    gap = HSPACE * base * dpi
    width_px = math.ceil(FIG_WIDTH_IN * dpi - 1e-6)
    tops = TOP_IN * dpi + np.concatenate([[0.0], np.cumsum(heights[:-1] + gap)])
    bottoms = tops + heights
    height_px = math.ceil(bottoms[-1] + BOTTOM_IN * dpi - 1e-6)
    left, right = AXES_LEFT * width_px, AXES_RIGHT * width_px
    return PianorollLayout(
        size=(width_px, height_px),
        tracks=tuple(int(t) for t in track_ids),
        pitches=tuple(pitches),
        boxes=tuple((left, float(t), right, float(b)) for t, b in zip(tops, bottoms, strict=True)),
    )


def _track_ids(notes: np.ndarray, track_ids: Sequence[int] | None) -> list[int]:
    """Panels to draw, in LPD-5 order: the given ones, else the tracks that have notes
    (one Piano panel for no notes)."""
    if track_ids is None:
        track_ids = np.unique(notes["track"]).tolist() or [1]
    return sorted(int(t) for t in track_ids)


def pianoroll_layout(
    notes: np.ndarray,
    resolution: int = RESOLUTION,
    track_ids: Sequence[int] | None = None,
    dpi: int = 100,
) -> PianorollLayout:
    """Where ``plot_pianoroll(notes, ...)`` puts its panels, without drawing them.

    For reading a PNG back: which pixels belong to which track, and where a time step or a
    pitch lands (parameters as ``plot_pianoroll``'s).
    """
    notes = np.asarray(notes)
    song = notes_to_song(notes, resolution)
    ids = _track_ids(notes, track_ids)
    return _layout([song.tracks[t].roll.toarray() for t in ids], ids, dpi)


def _pooled(roll: np.ndarray, n_columns: int) -> np.ndarray:
    """Max-pool ``(T, P)`` over time into ``min(T, n_columns)`` columns.

    Column ``j`` holds steps ``[floor(j T / C), floor((j + 1) T / C))``: every step lands in
    exactly one column, a note lights every column it touches, and since the columns are
    drawn at equal widths over the same span, a step is drawn within one step of its place.
    """
    n_steps = roll.shape[0]
    if n_steps <= n_columns:
        return roll
    starts = np.arange(n_columns, dtype=np.int64) * n_steps // n_columns
    return np.maximum.reduceat(roll, starts, axis=0)


def _bar_ticks(n_bars: int) -> np.ndarray:
    """Bar numbers to label: every 1, 2, 4, 8, ... bars, at most ~16 labels."""
    every = 1
    while n_bars / every > 16:
        every *= 2
    return np.arange(0, n_bars + 1, every)


def _draw_track(
    ax: Axes, roll: np.ndarray, tid: int, pitches: tuple[int, int], n_bars: int, columns: int
) -> None:
    """One panel: ``roll`` (shape=(n_bars * bar, 128), uint8) cropped to ``pitches``.

    Silence is transparent and the notes sit above the bar lines and the frame, so a
    one-step note on a bar line or at the first step still shows.
    """
    lo, hi = pitches
    image = _pooled(roll[:, lo:hi], columns).T.astype(np.float64)  # (n_pitches, n_columns)
    image = np.where(image > 0, 0.35 + 0.65 * image / 127.0, 0.0)  # quiet notes stay visible
    colours = ["white", TRACK_COLOURS[tid]]
    cmap = LinearSegmentedColormap.from_list(LPD5_TRACKS[tid], colours).with_extremes(bad="none")
    ax.imshow(
        np.ma.masked_equal(image, 0.0),
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(0.0, float(n_bars), lo - 0.5, hi - 0.5),  # x in bars
        zorder=3,  # above the frame (2.5) and the bar lines
    )
    ax.vlines(
        np.arange(1, n_bars), lo - 0.5, hi - 0.5, colors="0.75", lw=0.5, linestyles=":", zorder=1
    )
    ax.set_ylim(lo - 0.5, hi - 0.5)
    ax.set_ylabel(LPD5_TRACKS[tid], rotation=0, ha="right", va="center")
    if LPD5_IS_DRUM[tid]:
        ax.set_yticks([])
    else:
        cs = np.arange(-(-lo // 12) * 12, hi, 12)
        ax.set_yticks(cs, [f"C{c // 12 - 1}" for c in cs], fontsize=7)
    if not roll.any():
        ax.text(0.5, 0.5, "(no notes)", transform=ax.transAxes, ha="center", color="0.5")
    ax.tick_params(direction="in", labelsize=7)


def plot_pianoroll(
    notes: np.ndarray,
    path: str | Path,
    primer_len: int = 0,
    resolution: int = RESOLUTION,
    track_ids: Sequence[int] | None = None,
    title: str | None = None,
    beats_per_bar: int = 4,
    dpi: int = 100,
    bars: int | None = None,
) -> Path:
    """Draw the notes' tracks stacked, primer marked, and write a PNG atomically.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE
        A sample (primer followed by its continuation), ``track`` = LPD-5 ids.
    path : str or Path
        PNG to write; its folder is created.
    primer_len : int
        The first ``primer_len`` notes are the primer: shaded up to the first generated
        onset (0: nothing marked).
    track_ids : sequence of int, optional
        Panels to draw, top to bottom in LPD-5 order; default the tracks that have notes
        (one empty Piano panel for an empty array).
    title : str, optional
        Figure title (default: the file name).
    bars : int, optional
        Bars the time axis spans, at least the piece's own length (None: the piece's own).
        Pictures of one song's samples drawn with the same ``bars`` share a time axis, so a
        sample compressed in time looks compressed instead of being stretched to fit.

    Returns
    -------
    Path
        ``path``. 1200 px wide at the default ``dpi``; 150 px per panel plus 40 while the
        panels' pitch ranges are narrow, taller where a pitched panel shows more than
        about 40 pitch rows (3 px per row, ``pianoroll_layout`` gives the geometry).
    """
    if bars is not None and bars < 1:
        raise ValueError(f"plot_pianoroll: bars must be at least 1, got {bars}")
    path = Path(path)
    notes = np.asarray(notes)
    song = notes_to_song(notes, resolution)
    track_ids = _track_ids(notes, track_ids)
    bar = beats_per_bar * resolution
    n_steps = max(song.n_steps, 1)
    n_bars = max(-(-n_steps // bar), bars or 0)
    span = n_bars * bar  # whole bars, so the last bar line closes the picture
    rolls = [song.tracks[t].roll.toarray() for t in track_ids]  # (T, 128) uint8 velocities
    layout = _layout(rolls, track_ids, dpi)
    primer_end = 0
    if primer_len > 0:
        primer_end = (
            n_steps if primer_len >= notes.size else int(note_onsets(notes, resolution)[primer_len])
        )

    fig = Figure(figsize=(layout.size[0] / dpi, layout.size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    axes: list[Axes] = []
    for i, (roll, tid) in enumerate(zip(rolls, track_ids, strict=True)):
        ax = fig.add_axes(layout.rect(i), sharex=axes[0] if axes else None)
        roll = np.pad(roll, ((0, span - roll.shape[0]), (0, 0)))
        _draw_track(ax, roll, tid, layout.pitches[i], n_bars, layout.columns)
        if primer_end > 0:
            ax.axvspan(0.0, primer_end / bar, color="0.5", alpha=0.15, linewidth=0)
            ax.axvline(primer_end / bar, color="black", linestyle="--", linewidth=1.0, zorder=4)
        ax.tick_params(labelbottom=False)
        axes.append(ax)
    ticks = _bar_ticks(n_bars)
    axes[-1].set_xticks(ticks, [str(t + 1) for t in ticks])
    axes[-1].tick_params(labelbottom=True)
    axes[-1].set_xlabel(f"bar ({beats_per_bar} beats)")
    axes[-1].set_xlim(0.0, float(n_bars))
    head = title if title is not None else path.stem
    if primer_end > 0:
        head += f"  (shaded: primer, {primer_len} notes)"
    fig.suptitle(head, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
