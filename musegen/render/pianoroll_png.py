"""A sample's pianoroll as a PNG: one panel per LPD-5 track, stacked, as in LPD's figures.

The picture is drawn from ``notes_to_song`` (the rolls the sample's npz holds), with a
shared time axis in bars (4 beats), a dotted line at every bar, and the primer shaded and
closed by a dashed line, so the eye can tell what was given from what was generated.
Matplotlib's object API with the Agg canvas is used directly: no pyplot, no global state,
no display needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from musegen.atomic import atomic_path
from musegen.data.note_timing import note_onsets
from musegen.data.pianoroll_notes import notes_to_song
from musegen.data.tracks import LPD5_IS_DRUM, LPD5_TRACKS

TRACK_COLOURS: tuple[str, ...] = ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#17becf")
"""Panel colour per LPD-5 track (Drums, Piano, Guitar, Bass, Strings), as MuseGAN's."""

MAX_COLUMNS = 3000
"""Time steps are max-pooled to at most this many image columns, so no note vanishes."""


def _pooled(roll: np.ndarray, factor: int) -> np.ndarray:
    """Max-pool ``(T, P)`` over time by ``factor``: shape=(ceil(T / factor), P)."""
    if factor <= 1:
        return roll
    pad = (-roll.shape[0]) % factor
    roll = np.pad(roll, ((0, pad), (0, 0)))
    return roll.reshape(-1, factor, roll.shape[1]).max(axis=1)


def _bar_ticks(n_bars: int) -> np.ndarray:
    """Bar numbers to label: every 1, 2, 4, 8, ... bars, at most ~16 labels."""
    every = 1
    while n_bars / every > 16:
        every *= 2
    return np.arange(0, n_bars + 1, every)


def _draw_track(ax: Axes, roll: np.ndarray, tid: int, n_bars: int, factor: int) -> None:
    """One panel: ``roll`` (shape=(n_bars * bar, 128), uint8) cropped to its pitches."""
    used = np.flatnonzero(roll.any(axis=0))
    lo, hi = (int(used[0]) - 2, int(used[-1]) + 3) if used.size else (58, 72)
    lo, hi = max(lo, 0), min(hi, 128)
    image = _pooled(roll[:, lo:hi], factor).T.astype(np.float64)  # (n_pitches, n_columns)
    image = np.where(image > 0, 0.35 + 0.65 * image / 127.0, 0.0)  # quiet notes stay visible
    cmap = LinearSegmentedColormap.from_list(LPD5_TRACKS[tid], ["white", TRACK_COLOURS[tid]])
    ax.imshow(
        image,
        aspect="auto",
        origin="lower",
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        extent=(0.0, float(n_bars), lo - 0.5, hi - 0.5),  # x in bars
    )
    ax.vlines(np.arange(1, n_bars), lo - 0.5, hi - 0.5, colors="0.75", lw=0.5, linestyles=":")
    ax.set_ylim(lo - 0.5, hi - 0.5)
    ax.set_ylabel(LPD5_TRACKS[tid], rotation=0, ha="right", va="center")
    if LPD5_IS_DRUM[tid]:
        ax.set_yticks([])
    else:
        cs = np.arange(-(-lo // 12) * 12, hi, 12)
        ax.set_yticks(cs, [f"C{c // 12 - 1}" for c in cs], fontsize=7)
    if not used.size:
        ax.text(0.5, 0.5, "(no notes)", transform=ax.transAxes, ha="center", color="0.5")
    ax.tick_params(direction="in", labelsize=7)


def plot_pianoroll(
    notes: np.ndarray,
    path: str | Path,
    primer_len: int = 0,
    resolution: int = 24,
    track_ids: Sequence[int] | None = None,
    title: str | None = None,
    beats_per_bar: int = 4,
    dpi: int = 100,
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

    Returns
    -------
    Path
        ``path``. 1200 px wide and 150 px per track (plus 40) at the default ``dpi``.
    """
    path = Path(path)
    notes = np.asarray(notes)
    song = notes_to_song(notes, resolution)
    if track_ids is None:
        track_ids = np.unique(notes["track"]).tolist() or [1]
    track_ids = sorted(int(t) for t in track_ids)
    bar = beats_per_bar * resolution
    n_steps = max(song.n_steps, 1)
    n_bars = -(-n_steps // bar)
    span = n_bars * bar  # whole bars, so the last bar line closes the picture
    factor = -(-span // MAX_COLUMNS)
    primer_end = 0
    if primer_len > 0:
        primer_end = (
            n_steps if primer_len >= notes.size else int(note_onsets(notes, resolution)[primer_len])
        )

    fig = Figure(figsize=(12, 0.4 + 1.5 * len(track_ids)), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(track_ids), 1, sharex=True, squeeze=False)[:, 0]
    for ax, tid in zip(axes, track_ids, strict=True):
        roll = song.tracks[tid].roll.toarray()  # (T, 128) uint8 velocities
        _draw_track(ax, np.pad(roll, ((0, span - roll.shape[0]), (0, 0))), tid, n_bars, factor)
        if primer_end > 0:
            ax.axvspan(0.0, primer_end / bar, color="0.5", alpha=0.15, linewidth=0)
            ax.axvline(primer_end / bar, color="black", linestyle="--", linewidth=1.0)
    ticks = _bar_ticks(n_bars)
    axes[-1].set_xticks(ticks, [str(t + 1) for t in ticks])
    axes[-1].set_xlabel(f"bar ({beats_per_bar} beats)")
    axes[-1].set_xlim(0.0, float(n_bars))
    head = title if title is not None else path.stem
    if primer_end > 0:
        head += f"  (shaded: primer, {primer_len} notes)"
    fig.suptitle(head, fontsize=9)
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.08, right=0.99, top=1 - 0.3 / height, bottom=0.45 / height, hspace=0.08
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
