r"""Per-bar features: what a piece does bar after bar, for the evaluation over time.

Every whole-piece feature pools a piece's notes, so a piece that starts well and drifts
after a few bars scores like a piece that is mediocre throughout. Here a piece is read bar
by bar (4/4 bars of ``beats_per_bar * resolution`` time steps), the bars numbered by
``BarLayout``:

* **from scratch** (``BarLayout(bars=n)``): bars 1 to ``n`` from time 0, every one of them
  the piece's, empty or not;
* **continuations** (``BarLayout(bars=None)``): bar 1 is the bar that holds the first
  generated note (it begins with the end of the primer, whose notes are not counted), and
  the last bar the piece reaches is left out: a continuation stops after a number of notes,
  in the middle of that bar. At most ``max_bars`` bars are read.

Per bar (``bar_features``; a note belongs to the bar its onset lies in):

=========================  ========================================================
feature                    per bar
=========================  ========================================================
``notes/<Track>``          notes starting in the bar on the track (0 when none)
``duration/<Track>``       their mean length in beats (pitched tracks; NaN when none)
``polyphony``              pitches sounding at once, over the bar's time steps where
                           a pitched note sounds (MusPy's polyphony restricted to the
                           bar: a note held over the bar line counts in both bars;
                           all pitched tracks merged, drums left out)
``pitch_class_entropy``    Shannon entropy (bits) of the bar's pitched notes' pitch
                           classes (MusPy's, per bar); NaN without pitched notes
``in_key``                 the share of the bar's pitched notes inside the major or
                           minor scale that holds most of the pitched notes of the
                           piece's first ``key_bars`` (4) bars (MusPy's scale
                           consistency, its scale chosen once per piece); NaN without
                           pitched notes in the bar or in those first bars
``previous_bar``           the bar's similarity to the bar before (``bar_similarity``;
                           NaN for bar 1, 0 beside an empty bar, 1 in a loop)
=========================  ========================================================

Bars 1-4 fit the key, so their ``in_key`` is high by construction; a piece that leaves its
key later shows it in bars 5 and on.

``bar_similarity``: each bar is the set of its distinct ``(track, pitch, sixteenth-note
position)`` onsets, drums included, and two bars are as similar as the cosine of their sets,
:math:`|B_i \cap B_j| / \sqrt{|B_i||B_j|}`: 1 for a bar played again note for note, 0 for
bars that share no onset. ``structure`` reads the whole matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from musegen.data.note_timing import RESOLUTION, expand_runs, note_onsets, onsets_and_lengths
from musegen.data.tracks import IS_DRUM, LPD5_TRACKS
from musegen.metrics.musical import SCALES

NAN = float("nan")

KEY_BARS = 4
"""Bars at the start of a piece that fix its key for ``in_key``."""
POSITIONS_PER_BEAT = 4
"""Onset positions a beat in a bar's set of onsets (sixteenth notes; ``bar_similarity``)."""


@dataclass(frozen=True)
class BarLayout:
    """Which bars of a piece the evaluation over time reads (module docstring).

    Attributes
    ----------
    bars : int or None
        From scratch: the piece's number of bars, counted from time 0. None: a
        continuation, read from the bar of its first note to the bar before its last note's.
    max_bars : int
        The most bars read (continuations; from scratch, ``bars`` when it is given).
    """

    bars: int | None = None
    max_bars: int = 16
    resolution: int = RESOLUTION
    beats_per_bar: int = 4

    @property
    def bar_steps(self) -> int:
        return self.beats_per_bar * self.resolution

    @property
    def n_max(self) -> int:
        """Bars of the longest piece: the length of every curve."""
        return self.max_bars if self.bars is None else self.bars

    def span(self, onset: np.ndarray) -> tuple[int, int]:
        """``(first, n)``: the absolute bar number of bar 1 and how many bars are read.

        ``onset`` (int, shape=(n_notes,)) in time steps, sorted or not; no notes: ``n`` is 0
        for a continuation, ``bars`` from scratch.
        """
        if self.bars is not None:
            return 0, self.bars
        if onset.size == 0:
            return 0, 0
        first, last = int(onset.min()) // self.bar_steps, int(onset.max()) // self.bar_steps
        return first, min(last - first, self.max_bars)

    def movable(self, onset: np.ndarray) -> tuple[int, int]:
        """``(lo, hi)``: the absolute bars ``[lo, hi)`` a control of form may move. From
        scratch, all of them; a continuation keeps its first bar (shared with the primer)
        and its last (cut by the note count) in place."""
        if self.bars is not None:
            return 0, self.bars
        if onset.size == 0:
            return 0, 0
        return int(onset.min()) // self.bar_steps + 1, int(onset.max()) // self.bar_steps


def bar_similarity(notes: np.ndarray, layout: BarLayout) -> np.ndarray:
    """The cosine similarity of every two bars the layout reads.

    Parameters
    ----------
    notes : ndarray, shape=(n_notes,), NOTE_DTYPE

    Returns
    -------
    ndarray, shape=(n, n), float64
        ``n`` bars (``layout.span``); 1 on the diagonal of a non-empty bar, 0 in the row and
        column of an empty one.
    """
    notes = np.asarray(notes)
    onset = note_onsets(notes, layout.resolution)
    first, n = layout.span(onset)
    rel = onset - first * layout.bar_steps
    bar = rel // layout.bar_steps
    inside = (bar >= 0) & (bar < n)
    per_bar = POSITIONS_PER_BEAT * layout.beats_per_bar
    position = (rel % layout.bar_steps) * POSITIONS_PER_BEAT // layout.resolution
    event = (notes["track"].astype(np.int64) * 128 + notes["pitch"]) * per_bar + position
    # a bar's set: its distinct events; the sparse product counts the shared ones
    cells = np.unique(np.stack([bar[inside], event[inside]]), axis=1)
    m = sp.csr_matrix((np.ones(cells.shape[1]), (cells[0], cells[1])), shape=(n, 5 * 128 * per_bar))
    shared = (m @ m.T).toarray()  # (n, n)
    size = np.diag(shared)
    den = np.sqrt(np.outer(size, size))  # exact for a bar played again: sqrt(d * d) == d
    out = np.zeros((n, n))
    np.divide(shared, den, out=out, where=den > 0)
    return out


def bar_feature_names(track_ids: Sequence[int]) -> list[str]:
    """Columns of ``bar_features``, in order."""
    names = [f"notes/{LPD5_TRACKS[t]}" for t in track_ids]
    names += [f"duration/{LPD5_TRACKS[t]}" for t in track_ids if not IS_DRUM[t]]
    return [*names, "polyphony", "pitch_class_entropy", "in_key", "previous_bar"]


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, NaN elsewhere."""
    out = np.full(np.shape(num), NAN)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _bar_polyphony(
    onset: np.ndarray, length: np.ndarray, pitch: np.ndarray, n: int, bar_steps: int
) -> np.ndarray:
    """Polyphony of each of ``n`` bars from pitched notes whose onsets count from bar 1's
    start (time steps); the parts of notes outside the bars are cut off. shape=(n,)."""
    end = np.minimum(onset + length, n * bar_steps)
    start = np.maximum(onset, 0)
    keep = end > start
    start, span, pitch = start[keep], (end - start)[keep], pitch[keep]
    roll = np.zeros((n * bar_steps, 128), dtype=bool)
    roll[expand_runs(start, span), np.repeat(pitch, span)] = True
    per_bar = roll.reshape(n, bar_steps, 128)
    return _ratio(per_bar.sum(axis=(1, 2)), per_bar.any(axis=2).sum(axis=1))


def _entropy_rows(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each row of counts, shape=(n, k) -> (n,); NaN for 0 rows."""
    total = counts.sum(axis=1, keepdims=True)
    prob = _ratio(counts, np.broadcast_to(total, counts.shape))
    terms = np.where(counts > 0, -prob * np.log2(np.where(counts > 0, prob, 1.0)), 0.0)
    return np.where(total[:, 0] > 0, terms.sum(axis=1), NAN)


def bar_features(
    notes: np.ndarray,
    track_ids: Sequence[int],
    layout: BarLayout,
    key_bars: int = KEY_BARS,
) -> np.ndarray:
    """Every per-bar feature of one piece (module docstring).

    Parameters
    ----------
    notes : ndarray, shape=(n_notes,), NOTE_DTYPE
        One piece (LPD-5 track ids); notes outside the bars read are ignored.
    track_ids : sequence of int
        The modelled tracks: one ``notes/`` column each, one ``duration/`` column each
        pitched one.

    Returns
    -------
    ndarray, shape=(layout.n_max, len(bar_feature_names(track_ids))), float64
        Row ``b`` is bar ``b + 1``. Rows of bars the piece does not reach are NaN
        throughout; a bar it reaches has every ``notes/`` column finite.
    """
    notes = np.asarray(notes)
    track_ids = list(track_ids)
    onset, length = onsets_and_lengths(notes, layout.resolution)
    first, n = layout.span(onset)
    out = np.full((layout.n_max, len(bar_feature_names(track_ids))), NAN)
    if n == 0:
        return out
    steps = layout.bar_steps
    onset = onset - first * steps  # bar 1 starts at 0
    bar = onset // steps  # (n_notes,)
    inside = (bar >= 0) & (bar < n)
    track = notes["track"].astype(np.int64)
    pitch = notes["pitch"].astype(np.int64)
    pitched = ~IS_DRUM[track]

    cell = (bar * 5 + track)[inside]  # (bar, LPD-5 track) of every note inside
    counts = np.bincount(cell, minlength=n * 5).reshape(n, 5).astype(np.float64)
    beats = np.bincount(cell, weights=length[inside] / layout.resolution, minlength=n * 5)
    mean_beats = _ratio(beats.reshape(n, 5), counts)
    pitched_ids = [t for t in track_ids if not IS_DRUM[t]]

    sel = inside & pitched
    pcs = np.bincount(bar[sel] * 12 + pitch[sel] % 12, minlength=n * 12).reshape(n, 12)
    key_hist = pcs[:key_bars].sum(axis=0)
    if key_hist.sum():
        scale = SCALES[int(np.argmax(SCALES @ key_hist))]  # the first best of the 24 on ties
        in_key = _ratio(pcs @ scale, pcs.sum(axis=1))
    else:
        in_key = np.full(n, NAN)

    columns = [counts[:, track_ids], mean_beats[:, pitched_ids]]
    columns.append(
        _bar_polyphony(onset[pitched], length[pitched], pitch[pitched], n, steps)[:, None]
    )
    previous = np.full(n, NAN)  # bar 1 has no previous bar in the piece
    previous[1:] = np.diagonal(bar_similarity(notes, layout), 1)
    columns += [_entropy_rows(pcs)[:, None], in_key[:, None], previous[:, None]]
    out[:n] = np.concatenate(columns, axis=1)
    return out
