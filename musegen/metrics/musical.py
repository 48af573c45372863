"""Musical metrics of note arrays: MusPy's, vectorised, and MuseGAN's per-track EB/UPC/QN.

Every metric is a small pure function ``name(notes, ...) -> float`` of one song's notes
(``NOTE_DTYPE``, ``track`` = LPD-5 id, 0 = Drums). MusPy's metrics loop over notes in
Python; here each is rewritten with NumPy and tested equal to MusPy 0.5.0 on real songs
(``to_muspy`` builds the ``muspy.Music`` they are compared on). Where MusPy returns a number
for music that has nothing to measure (``pitch_range`` gives 0, or -127 with drums only),
these return NaN, so that averages over songs skip them.

Timing. Onsets and lengths follow ``note_timing`` (``time`` when it agrees with the steps,
else the running sum of the gridded steps; lengths at least one step), as ``notes_to_song``
writes them. Onsets are then shifted back by whole bars so that the first
bar holds the first note: a continuation that starts in bar 200 is measured from its own
first bar, with its position in the bar and beat kept. A bar is ``beats_per_bar`` (4)
beats; LPD stores no time signature that could say otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from musegen.data.note_timing import RESOLUTION, expand_runs, note_lengths, note_onsets
from musegen.data.tracks import IS_DRUM, LPD5_IS_DRUM, LPD5_PROGRAMS, LPD5_TRACKS

if TYPE_CHECKING:
    import muspy

NAN = float("nan")

QN_MIN_BEATS = 1 / 8
"""Shortest qualified note for QN, in beats: a 32nd note (3 time steps at 24 per beat)."""


# --- timing -------------------------------------------------------------------------------


def bar_aligned_timing(
    notes: np.ndarray, resolution: int, beats_per_bar: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """``(onset, length)`` in time steps, onsets shifted back by whole bars (see module)."""
    onset = note_onsets(notes, resolution)
    if onset.size:
        bar = beats_per_bar * resolution
        onset = onset - (int(onset.min()) // bar) * bar
    return onset, note_lengths(notes, resolution)


def _pitched(notes: np.ndarray) -> np.ndarray:
    notes = np.asarray(notes)
    return notes[~IS_DRUM[notes["track"]]]


def to_muspy(
    notes: np.ndarray, resolution: int = RESOLUTION, beats_per_bar: int = 4
) -> muspy.Music:
    """The ``muspy.Music`` of ``notes``: one track per LPD-5 track present, same timing.

    Loops over notes in Python: for export and for checking this module against MusPy,
    not for the metrics themselves.
    """
    import muspy  # 1.7 s to import: only this bridge needs it

    notes = np.asarray(notes)
    onset, length = bar_aligned_timing(notes, resolution, beats_per_bar)
    tracks = []
    for tid in np.unique(notes["track"]).tolist():
        sel = np.flatnonzero(notes["track"] == tid)
        track = muspy.Track(
            program=LPD5_PROGRAMS[tid], is_drum=LPD5_IS_DRUM[tid], name=LPD5_TRACKS[tid]
        )
        track.notes = [
            muspy.Note(time=t, pitch=p, duration=d, velocity=v)
            for t, p, d, v in zip(
                onset[sel].tolist(),
                notes["pitch"][sel].tolist(),
                length[sel].tolist(),
                notes["velocity"][sel].tolist(),
                strict=True,
            )
        ]
        tracks.append(track)
    return muspy.Music(resolution=resolution, tracks=tracks)


# --- histograms --------------------------------------------------------------------------


def frequencies(counts: np.ndarray) -> np.ndarray | None:
    """Counts -> frequencies summing to 1 (float64, same shape); None when nothing was
    counted: the one meaning of "nothing" for a histogram (a feature a piece does not have;
    ``similarity`` spells it as an all-NaN vector, so that a cosine of it is NaN)."""
    counts = np.asarray(counts)
    total = counts.sum()
    return None if total == 0 else counts.astype(np.float64) / total


def pitch_class_counts(notes: np.ndarray) -> np.ndarray:
    """How many non-drum notes have each pitch class (C=0 ... B=11): int64, shape=(12,)."""
    pitch = _pitched(notes)["pitch"].astype(np.int64)
    return np.bincount(pitch % 12, minlength=12)


# --- MusPy's metrics ------------------------------------------------------------------------


def pitch_range(notes: np.ndarray) -> float:
    """Highest minus lowest pitch of the non-drum notes (MusPy's ``pitch_range``).

    Returns NaN without non-drum notes (MusPy returns 0, or -127 when only drums play).
    """
    pitch = _pitched(notes)["pitch"]
    if pitch.size == 0:
        return NAN
    return float(int(pitch.max()) - int(pitch.min()))


def n_pitch_classes_used(notes: np.ndarray) -> float:
    """Number of distinct pitch classes (pitch mod 12) of the non-drum notes.

    MusPy's ``n_pitch_classes_used``; 0 without non-drum notes, as in MusPy. (Not
    ``pypianoroll.metrics.n_pitch_classes_used``, which counts C4 and C5 as two.)
    """
    pitch = _pitched(notes)["pitch"]
    return float(np.unique(pitch % 12).size)


def _entropy(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return NAN
    prob = counts[counts > 0] / total
    return float(-(prob * np.log2(prob)).sum())


def pitch_entropy(notes: np.ndarray) -> float:
    r"""Shannon entropy (bits) of the non-drum notes' pitch histogram (MusPy's).

    .. math:: -\sum_{i=0}^{127} P(pitch=i) \log_2 P(pitch=i)

    Counts notes, not time steps; NaN without non-drum notes.
    """
    pitch = _pitched(notes)["pitch"].astype(np.int64)
    return _entropy(np.bincount(pitch, minlength=128))


def pitch_class_entropy(notes: np.ndarray) -> float:
    r"""Shannon entropy (bits) of the non-drum notes' pitch-class histogram (MusPy's).

    .. math:: -\sum_{c=0}^{11} P(pitch \bmod 12 = c) \log_2 P(pitch \bmod 12 = c)

    From Wu & Yang, "The Jazz Transformer on the Front Line", ISMIR 2020. NaN without
    non-drum notes.
    """
    pitch = _pitched(notes)["pitch"].astype(np.int64)
    return _entropy(np.bincount(pitch % 12, minlength=12))


_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)
SCALES: np.ndarray = np.stack(
    [np.roll(_MAJOR, r) for r in range(12)] + [np.roll(_MINOR, r) for r in range(12)]
)
"""Masks of the 24 major and minor scales: bool, shape=(24, 12); row r < 12 is r major."""


def scale_consistency(notes: np.ndarray) -> float:
    r"""Largest fraction of non-drum notes inside one major or minor scale (MusPy's).

    .. math:: \max_{root, mode} \#(notes\_in\_scale) / \#(notes)

    From Mogren, "C-RNN-GAN", 2016. NaN without non-drum notes.
    """
    pitch = _pitched(notes)["pitch"].astype(np.int64)
    if pitch.size == 0:
        return NAN
    hist = np.bincount(pitch % 12, minlength=12)
    return float((SCALES @ hist).max() / pitch.size)


def polyphony(notes: np.ndarray, resolution: int = RESOLUTION) -> float:
    r"""Mean number of pitches sounding at the time steps where any pitch sounds (MusPy's).

    .. math:: \#(active\ (step, pitch)\ pairs) / \#(steps\ with\ an\ active\ pitch)

    Non-drum notes only, all tracks merged into one binary roll (a pitch on in two tracks
    counts once). NaN without non-drum notes.
    """
    notes = np.asarray(notes)
    onset, length = bar_aligned_timing(notes, resolution)
    keep = ~IS_DRUM[notes["track"]]
    onset, length, pitch = onset[keep], length[keep], notes["pitch"][keep].astype(np.int64)
    if onset.size == 0:
        return NAN
    roll = np.zeros((int((onset + length).max()), 128), dtype=bool)
    rows = expand_runs(onset, length)
    roll[rows, np.repeat(pitch, length)] = True
    return float(roll.sum() / np.count_nonzero(roll.any(axis=1)))


def empty_beat_rate(notes: np.ndarray, resolution: int = RESOLUTION) -> float:
    r"""Fraction of beats in which no note (drums included) sounds (MusPy's definition).

    .. math:: \#(empty\ beats) / \#(beats)

    Exactly MusPy 0.5.0's counting: with ``L`` the last note end (exclusive), there are
    ``L // resolution + 1`` beats, and a note fills beats ``time // resolution`` to
    ``end // resolution`` inclusive, so a note that ends on a beat line also fills the
    beat after it. (``pypianoroll.metrics.empty_beat_rate`` returns the non-empty rate.)
    NaN for no notes.
    """
    onset, length = bar_aligned_timing(notes, resolution)
    if onset.size == 0:
        return NAN
    end = onset + length
    n_beats = int(end.max()) // resolution + 1
    diff = np.zeros(n_beats + 1, dtype=np.int64)
    np.add.at(diff, onset // resolution, 1)
    np.add.at(diff, end // resolution + 1, -1)
    filled = np.count_nonzero(np.cumsum(diff[:n_beats]) > 0)
    return float(1.0 - filled / n_beats)


def groove_consistency(
    notes: np.ndarray, resolution: int = RESOLUTION, beats_per_bar: int = 4
) -> float:
    r"""One minus the mean Hamming distance of neighbouring bars' onset patterns (MusPy's).

    .. math:: 1 - \frac{1}{T - 1} \sum_{i=1}^{T-1} \frac{d(G_i, G_{i+1})}{R}

    ``G_i`` is bar ``i``'s binary onset vector (``R = beats_per_bar * resolution`` steps, all
    tracks, drums included), ``T = L // R + 1`` bars for the last note end ``L``. From Wu &
    Yang, ISMIR 2020. NaN for fewer than two bars.
    """
    onset, length = bar_aligned_timing(notes, resolution, beats_per_bar)
    measure = beats_per_bar * resolution
    if onset.size == 0:
        return NAN
    n_measures = int((onset + length).max()) // measure + 1
    if n_measures < 2:
        return NAN
    pattern = np.zeros((n_measures, measure), dtype=bool)
    pattern[onset // measure, onset % measure] = True
    hamming = np.count_nonzero(pattern[:-1] != pattern[1:])
    return float(1.0 - hamming / (measure * (n_measures - 1)))


def _drum_pattern(resolution: int, meter: str) -> np.ndarray:
    """Positions within a beat that a drum pattern of ``meter`` hits (MusPy's masks)."""
    mask = np.zeros(resolution, dtype=bool)
    mask[0] = True
    if meter == "duple":
        if resolution % 4 == 0:
            mask[:: resolution // 4] = True
        if resolution % 2 == 0:
            mask[:: resolution // 2] = True
    elif resolution % 3 == 0:
        mask[:: resolution // 3] = True
    return mask


def drum_pattern_consistency(notes: np.ndarray, resolution: int = RESOLUTION) -> float:
    r"""Largest fraction of drum onsets on a duple or triple grid within the beat (MusPy's).

    .. math:: \max_{meter \in \{duple, triple\}} \#(drum\ notes\ on\ the\ grid) / \#(drum\ notes)

    The duple grid is the 16th notes (0, 1/4, 1/2, 3/4 beat), the triple grid the 8th-note
    triplets (0, 1/3, 2/3 beat). Drum notes only; NaN without drum notes.
    """
    notes = np.asarray(notes)
    onset, _ = bar_aligned_timing(notes, resolution)
    pos = onset[IS_DRUM[notes["track"]]] % resolution
    if pos.size == 0:
        return NAN
    duple = _drum_pattern(resolution, "duple")[pos].mean()
    triple = _drum_pattern(resolution, "triple")[pos].mean()
    return float(max(duple, triple))


# --- MuseGAN's per-track metrics ------------------------------------------------------------


def _bars(
    notes: np.ndarray, resolution: int, beats_per_bar: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """Number of bars of the song, and the first and last bar each note sounds in."""
    onset, length = bar_aligned_timing(notes, resolution, beats_per_bar)
    bar = beats_per_bar * resolution
    if onset.size == 0:
        return 0, onset, onset
    end = onset + length
    return -(-int(end.max()) // bar), onset // bar, (end - 1) // bar


def _occupied(first: np.ndarray, last: np.ndarray, n_bars: int) -> np.ndarray:
    """bool, shape=(n_bars,): bars in which at least one of the spans ``[first, last]`` lies."""
    diff = np.zeros(n_bars + 1, dtype=np.int64)
    np.add.at(diff, first, 1)
    np.add.at(diff, last + 1, -1)
    return np.cumsum(diff[:n_bars]) > 0


def empty_bar_rate(
    notes: np.ndarray, track: int, resolution: int = RESOLUTION, beats_per_bar: int = 4
) -> float:
    r"""EB: fraction of the song's bars in which ``track`` plays nothing (MuseGAN).

    .. math:: \#(bars\ where\ the\ track\ is\ silent) / \#(bars)

    The song has ``ceil(L / R)`` bars (``L`` the last note end of any track, ``R`` steps per
    bar); a note sounds in every bar it overlaps. Dong et al., "MuseGAN", AAAI 2018. NaN for
    a song without notes; 1 for a silent track of a non-empty song.
    """
    n_bars, first, last = _bars(notes, resolution, beats_per_bar)
    if n_bars == 0:
        return NAN
    sel = np.asarray(notes)["track"] == track
    return float(1.0 - np.count_nonzero(_occupied(first[sel], last[sel], n_bars)) / n_bars)


def used_pitch_classes(
    notes: np.ndarray, track: int, resolution: int = RESOLUTION, beats_per_bar: int = 4
) -> float:
    r"""UPC: distinct pitch classes per bar of ``track``, over its non-empty bars (MuseGAN).

    .. math:: \frac{1}{\#B} \sum_{b \in B} \#\{pitch \bmod 12 \text{ sounding in } b\}

    ``B`` is the set of bars in which the track sounds; a note counts in every bar it
    overlaps. Empty bars are left out (EB reports them), so UPC is in [1, 12]. NaN for a
    drum track (drum keys are not pitches) or a track without notes.
    """
    if IS_DRUM[track]:
        return NAN
    notes = np.asarray(notes)
    _, first, last = _bars(notes, resolution, beats_per_bar)
    sel = notes["track"] == track
    if not sel.any():
        return NAN
    first, last = first[sel], last[sel]
    span = last - first + 1
    bar = expand_runs(first, span)
    pc = np.repeat(notes["pitch"][sel].astype(np.int64) % 12, span)
    pairs = np.unique(bar * 12 + pc)
    return float(pairs.size / np.unique(pairs // 12).size)


def qualified_note_rate(
    notes: np.ndarray, track: int, resolution: int = RESOLUTION, min_beats: float = QN_MIN_BEATS
) -> float:
    r"""QN: fraction of ``track``'s notes at least ``min_beats`` long (MuseGAN).

    .. math:: \#(notes \ge q) / \#(notes), \quad q = \max(1, rint(min\_beats \cdot resolution))

    MuseGAN calls a note no shorter than three time steps, a 32nd note, "qualified" (at its
    24 steps per beat). The threshold is set in beats so that it stays a 32nd note at any
    resolution: 3 steps at 24. Low QN means fragmented music. NaN for a drum track (drum
    hits are stored one step long, so QN would say nothing) or a track without notes.
    """
    if IS_DRUM[track]:
        return NAN
    notes = np.asarray(notes)
    sel = notes["track"] == track
    if not sel.any():
        return NAN
    threshold = max(1, round(min_beats * resolution))
    return float(np.mean(note_lengths(notes[sel], resolution) >= threshold))


def on_grid_rate(notes: np.ndarray, resolution: int = RESOLUTION, per_beat: int = 1) -> float:
    r"""Fraction of notes whose onset falls on a grid line, ``per_beat`` lines a beat.

    .. math:: \#(notes: onset \bmod (resolution / per\_beat) = 0) / \#(notes)

    ``per_beat=1``: on a beat; ``per_beat=2``: on an eighth note. Onsets are the song's own
    (``note_timing``), so a continuation is measured on the beats of the song it continues.
    A regression head's notes fall between grid lines; real music sits mostly on them.
    NaN for no notes. (Ours: not MusPy's or MuseGAN's.)
    """
    onset = note_onsets(notes, resolution)
    if onset.size == 0:
        return NAN
    return float(np.mean(onset % max(resolution // per_beat, 1) == 0))


# --- tables ---------------------------------------------------------------------------------

SongMetric = Callable[[np.ndarray, int], float]

METRICS: dict[str, SongMetric] = {
    "pitch_range": lambda n, r: pitch_range(n),
    "n_pitch_classes_used": lambda n, r: n_pitch_classes_used(n),
    "pitch_entropy": lambda n, r: pitch_entropy(n),
    "pitch_class_entropy": lambda n, r: pitch_class_entropy(n),
    "scale_consistency": lambda n, r: scale_consistency(n),
    "polyphony": polyphony,
    "empty_beat_rate": empty_beat_rate,
    "groove_consistency": groove_consistency,
    "drum_pattern_consistency": drum_pattern_consistency,
    "on_beat_rate": lambda n, r: on_grid_rate(n, r, 1),
    "on_eighth_rate": lambda n, r: on_grid_rate(n, r, 2),
}
"""Whole-song metrics ``f(notes, resolution) -> float``, in report order."""

RHYTHM_METRICS = (
    "groove_consistency",
    "empty_beat_rate",
    "drum_pattern_consistency",
    "on_beat_rate",
    "on_eighth_rate",
)
"""The metrics that see rhythm, reported beside the similarity."""

TRACK_METRICS: dict[str, Callable[[np.ndarray, int, int], float]] = {
    "EB": empty_bar_rate,
    "UPC": used_pitch_classes,
    "QN": qualified_note_rate,
}
"""MuseGAN's per-track metrics ``f(notes, track, resolution) -> float``; rows ``EB/Piano``..."""


def _track_rows(track_ids: Sequence[int]) -> list[tuple[str, str, int]]:
    """``(row name, metric, track)`` per track metric; drums get EB only (the rest is NaN)."""
    return [
        (f"{name}/{LPD5_TRACKS[tid]}", name, int(tid))
        for tid in track_ids
        for name in TRACK_METRICS
        if name == "EB" or not IS_DRUM[tid]
    ]


def metric_names(track_ids: Sequence[int]) -> list[str]:
    """Row names of ``song_metrics``/``metrics_table``: ``METRICS``, then ``EB/Piano``..."""
    return list(METRICS) + [row for row, _, _ in _track_rows(track_ids)]


def song_metrics(
    notes: np.ndarray, track_ids: Sequence[int], resolution: int = RESOLUTION
) -> dict[str, float]:
    """Every metric of one song: ``METRICS``, then ``TRACK_METRICS`` per track.

    Per-track rows are named ``"<metric>/<track name>"`` (``metric_names``).
    """
    out = {name: fn(notes, resolution) for name, fn in METRICS.items()}
    for row, name, tid in _track_rows(track_ids):
        out[row] = TRACK_METRICS[name](notes, tid, resolution)
    return out


def metrics_table(
    columns: Mapping[str, Sequence[np.ndarray]],
    track_ids: Sequence[int] | None = None,
    resolution: int = RESOLUTION,
) -> dict[str, dict[str, dict[str, float]]]:
    """Every metric averaged over the songs of each column (real test music, each model).

    Parameters
    ----------
    columns : mapping of str to sequence of ndarray, NOTE_DTYPE
        ``{"real test": [notes, ...], "lstm_gru": [notes, ...], ...}``.
    track_ids : sequence of int, optional
        LPD-5 tracks for the per-track rows; default: every track that has a note in any
        column.

    Returns
    -------
    dict
        ``table[metric][column] = {"mean": m, "std": s, "n": k}`` over the ``k`` songs where
        the metric is defined (NaN values skipped; population std). JSON-ready.
    """
    if track_ids is None:
        present = [np.unique(np.asarray(s)["track"]) for songs in columns.values() for s in songs]
        track_ids = np.unique(np.concatenate(present)).tolist() if present else []
    per_column = {
        col: [song_metrics(s, track_ids, resolution) for s in songs]
        for col, songs in columns.items()
    }
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in metric_names(track_ids):
        table[name] = {}
        for col, rows in per_column.items():
            vals = np.array([row[name] for row in rows], dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            table[name][col] = {
                "mean": float(ok.mean()) if ok.size else NAN,
                "std": float(ok.std()) if ok.size else NAN,
                "n": int(ok.size),
            }
    return table


def _cell(stat: Mapping[str, float], digits: int) -> str:
    mean, std = stat["mean"], stat["std"]
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def to_markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]], digits: int = 3) -> str:
    """A GitHub markdown table: one row per metric, one column per ``metrics_table`` column.

    Cells read ``mean ± std`` over songs; ``–`` where the metric is undefined for every song.
    """
    cols = list(next(iter(table.values()), {}))
    lines = [
        "| metric | " + " | ".join(cols) + " |",
        "| --- | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for name, row in table.items():
        lines.append(f"| {name} | " + " | ".join(_cell(row[c], digits) for c in cols) + " |")
    return "\n".join(lines) + "\n"
