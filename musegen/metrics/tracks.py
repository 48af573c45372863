"""Per-instrument statistics: what a listener hears track by track.

A whole-piece number (one pitch histogram, one scale consistency) cannot tell a bass an
octave too high from a right one, nor a drum hit turned into a bass note. These statistics
are taken per LPD-5 track, per piece, and averaged over pieces (``track_table``):

==================  ==============================================================
row                 per piece and track
==================  ==============================================================
``share``           fraction of the piece's notes on the track
``pitch_mean``      mean MIDI pitch of the track's notes (drums: the GM drum keys)
``pitch_std``       their standard deviation
``pitch_range``     highest minus lowest pitch
``out_of_range``    fraction of the track's notes whose pitch lies outside the 1st-99th
                    percentile range of the same track in a reference set (``TrackRanges``)
``duration``        mean note length in beats (not for drums: LPD stores hits as one step)
``overlap``         fraction of the track's notes that start while a note of the same
                    pitch on the track still sounds, or at its onset
                    (``same_pitch_overlap``): what the MIDI writer has to cut
``polyphony``       MusPy's polyphony of the track alone (pitches sounding at once)
``EB``, ``UPC``,    MuseGAN's empty-bar rate, used pitch classes per bar and qualified-note
``QN``              rate (``musical``); ``DP`` (drum pattern) for drums
``TD/<a>-<b>``      MuseGAN's tonal distance between two pitched tracks (``tonal_distance``)
==================  ==============================================================

and, over all pitched tracks together, ``scale_consistency`` and ``pitch_class_entropy``
(MusPy's) and ``semitone_clusters`` (``semitone_cluster_share``: the share of the sounding
time in which two notes a semitone apart sound together). A statistic a piece cannot have
(no bass notes: no bass pitch) is NaN and left out of the mean, and the number of pieces
that had it is reported beside it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from musegen.data.note_timing import (
    RESOLUTION,
    expand_runs,
    note_lengths,
    note_onsets,
    onsets_and_lengths,
)
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import IS_DRUM, LPD5_TRACKS
from musegen.metrics.musical import (
    bar_aligned_timing,
    drum_pattern_consistency,
    empty_bar_rate,
    pitch_class_entropy,
    polyphony,
    qualified_note_rate,
    scale_consistency,
    used_pitch_classes,
)

NAN = float("nan")

TRACK_STATS: tuple[str, ...] = (
    "share",
    "pitch_mean",
    "pitch_std",
    "pitch_range",
    "out_of_range",
    "duration",
    "overlap",
    "polyphony",
    "EB",
    "UPC",
    "QN",
    "DP",
)
"""Per-track statistics, in report order (rows are ``<stat>/<track name>``)."""

GLOBAL_STATS: tuple[str, ...] = ("scale_consistency", "pitch_class_entropy", "semitone_clusters")
"""Statistics over all pitched tracks together, in report order."""

MUSEGAN_LPD5: dict[str, float] = {
    "EB/Bass": 0.0806,
    "EB/Drums": 0.0806,
    "EB/Guitar": 0.194,
    "EB/Piano": 0.248,
    "EB/Strings": 0.101,
    "UPC/Bass": 1.71,
    "UPC/Guitar": 3.08,
    "UPC/Piano": 3.28,
    "UPC/Strings": 3.38,
    "QN/Bass": 0.900,
    "QN/Guitar": 0.819,
    "QN/Piano": 0.884,
    "QN/Strings": 0.896,
    "DP/Drums": 0.886,
}
"""MuseGAN's published values on LPD-5's own training data (Dong et al., AAAI 2018, Table 2),
computed on 4-bar phrases of rock songs, as fractions (the paper prints percentages). Theirs,
not ours: a reference column, not a target. Its tonal distances are not reproduced here."""

PERCENTILES = (1.0, 99.0)


@dataclass(frozen=True)
class TrackRanges:
    """The 1st-99th percentile pitch range of each track in a reference set.

    Attributes
    ----------
    low, high : dict of int to float
        LPD-5 track id -> the percentiles of the reference notes' pitches (tracks the
        reference does not play are absent).
    """

    low: Mapping[int, float]
    high: Mapping[int, float]

    @classmethod
    def fit(cls, pieces: Sequence[np.ndarray]) -> TrackRanges:
        """Pool the reference pieces' notes and take each track's pitch percentiles."""
        notes = _concat(pieces)
        low, high = {}, {}
        for tid in np.unique(notes["track"]).tolist():
            pitch = notes["pitch"][notes["track"] == tid].astype(np.float64)
            low[int(tid)], high[int(tid)] = (float(v) for v in np.percentile(pitch, PERCENTILES))
        return cls(low, high)

    def outside(self, notes: np.ndarray, track: int) -> float:
        """Fraction of ``track``'s notes outside its reference range; NaN without notes or
        without a reference range for the track."""
        pitch = notes["pitch"][notes["track"] == track].astype(np.float64)
        if pitch.size == 0 or track not in self.low:
            return NAN
        return float(np.mean((pitch < self.low[track]) | (pitch > self.high[track])))


def same_pitch_overlap(notes: np.ndarray, track: int, resolution: int = RESOLUTION) -> float:
    """The share of ``track``'s notes that start while an earlier note of the same pitch on
    the track still sounds, or at the same onset as another.

    Real music read from pianorolls has none (a roll's notes of one pitch are separate runs);
    a model may draw them. The MIDI writer ends the earlier note there
    (``note_timing.end_at_repeats``), so this counts what it cuts. NaN without notes.
    """
    notes = np.asarray(notes)
    sel = notes["track"] == track
    if not sel.any():
        return NAN
    onset, length = (a[sel] for a in onsets_and_lengths(notes, resolution))
    pitch = notes["pitch"][sel].astype(np.int64)
    order = np.lexsort((onset, pitch))
    onset, end, pitch = onset[order], (onset + length)[order], pitch[order]
    first = np.ones(pitch.size, dtype=bool)  # the first note of its pitch
    first[1:] = pitch[1:] != pitch[:-1]
    group = np.cumsum(first) - 1
    span = int(end.max()) + 1  # the latest end within a pitch, by a running maximum that
    latest = np.maximum.accumulate(end + group * span) - group * span  # restarts per pitch
    before = np.empty_like(latest)
    before[1:] = latest[:-1]  # the latest end among the earlier notes of the pitch
    collide = ~first & (onset < before)
    return float(collide.mean())


def _concat(pieces: Sequence[np.ndarray]) -> np.ndarray:
    parts = [np.asarray(p) for p in pieces if len(p)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=NOTE_DTYPE)


# --- tonal distance ----------------------------------------------------------------------

TONAL_MATRIX: np.ndarray = np.stack(
    [
        f(np.arange(12) * angle * np.pi) * radius
        for angle, radius in ((7 / 6, 1.0), (3 / 2, 1.0), (2 / 3, 0.5))
        for f in (np.sin, np.cos)
    ]
)
"""shape=(6, 12): chroma -> Harte et al.'s tonal centroid (circles of fifths, minor and major
thirds, radii 1, 1, 0.5), as MuseGAN computes it."""


def beat_chroma(
    onset: np.ndarray,
    length: np.ndarray,
    pitch: np.ndarray,
    n_beats: int,
    resolution: int = RESOLUTION,
) -> np.ndarray:
    """How many time steps each pitch class sounds in each beat.

    Parameters
    ----------
    onset, length, pitch : ndarray, shape=(n,), int
        The notes of one track, onsets and lengths in time steps.

    Returns
    -------
    ndarray, shape=(n_beats, 12), int64
        Notes are painted over every time step they cover, as in a pianoroll.
    """
    chroma = np.zeros((n_beats, 12), dtype=np.int64)
    steps = expand_runs(onset, length)
    beat = steps // resolution
    pcs = np.repeat(np.asarray(pitch, dtype=np.int64) % 12, length)
    ok = beat < n_beats
    np.add.at(chroma, (beat[ok], pcs[ok]), 1)
    return chroma


def tonal_distance(
    notes: np.ndarray, track_a: int, track_b: int, resolution: int = RESOLUTION
) -> float:
    r"""MuseGAN's tonal distance between two tracks (Dong et al., AAAI 2018; Harte et al. 2006).

    .. math::
        TD = \frac{1}{|B|} \sum_{b \in B}
             \lVert T c_a(b) / |c_a(b)|_1 - T c_b(b) / |c_b(b)|_1 \rVert_2

    ``c_x(b)`` is track ``x``'s chroma in beat ``b`` (time steps sounding per pitch class),
    ``T`` the 6x12 ``TONAL_MATRIX``; ``B`` the beats where both tracks sound. Lower means the
    two tracks agree harmonically. NaN when they never sound in the same beat.
    """
    if IS_DRUM[track_a] or IS_DRUM[track_b] or len(notes) == 0:
        return NAN
    onset, length = bar_aligned_timing(notes, resolution)
    n_beats = int((onset + length).max()) // resolution + 1
    notes = np.asarray(notes)
    ca, cb = (
        beat_chroma(onset[s], length[s], notes["pitch"][s], n_beats, resolution).astype(float)
        for s in (notes["track"] == track_a, notes["track"] == track_b)
    )
    both = (ca.sum(1) > 0) & (cb.sum(1) > 0)
    if not both.any():
        return NAN
    ta = (ca[both] / ca[both].sum(1, keepdims=True)) @ TONAL_MATRIX.T  # (|B|, 6)
    tb = (cb[both] / cb[both].sum(1, keepdims=True)) @ TONAL_MATRIX.T
    return float(np.linalg.norm(ta - tb, axis=1).mean())


# --- semitone clusters --------------------------------------------------------------------


def semitone_cluster_share(notes: np.ndarray, resolution: int = RESOLUTION) -> float:
    r"""The share of the sounding time in which two pitched notes a semitone apart sound
    together.

    .. math:: \#(steps\ with\ pitches\ p, p + 1\ on) / \#(steps\ with\ a\ pitch\ on)

    Pitched notes of every track merged into one binary roll (drums left out; a pitch on in
    two tracks counts once; a minor ninth is not a semitone). Real music has almost none: a
    passing note against a held one, a trill. NaN without pitched notes.
    """
    notes = np.asarray(notes)
    onset, length = bar_aligned_timing(notes, resolution)
    keep = ~IS_DRUM[notes["track"]]
    onset, length, pitch = onset[keep], length[keep], notes["pitch"][keep].astype(np.int64)
    if onset.size == 0:
        return NAN
    roll = np.zeros((int((onset + length).max()), 128), dtype=bool)  # (T, 128)
    roll[expand_runs(onset, length), np.repeat(pitch, length)] = True
    cluster = (roll[:, 1:] & roll[:, :-1]).any(axis=1)  # (T,): p and p + 1 both on
    return float(cluster.sum() / roll.any(axis=1).sum())


# --- per piece ---------------------------------------------------------------------------


def track_notes(notes: np.ndarray, keep: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """The notes ``keep`` selects, with steps recomputed from their own onsets: a piece's
    steps count from the previous note of any track, so a plain subset would misplace them
    (``note_timing``)."""
    onset = note_onsets(notes, resolution)
    out = np.array(np.asarray(notes)[keep], copy=True)
    out["time"] = onset[keep]
    if out.size:
        out["step"][1:] = np.diff(out["time"]) / resolution
    return out


def _pitched(track_ids: Sequence[int]) -> list[int]:
    return [int(t) for t in track_ids if not IS_DRUM[t]]


def track_stat_names(track_ids: Sequence[int]) -> list[str]:
    """Row names of ``piece_track_stats``, in report order."""
    names = []
    for stat in TRACK_STATS:
        for tid in track_ids:
            drum = IS_DRUM[tid]
            if (drum and stat in ("duration", "polyphony", "UPC", "QN")) or (
                not drum and stat == "DP"
            ):
                continue
            names.append(f"{stat}/{LPD5_TRACKS[tid]}")
    pitched = _pitched(track_ids)
    names += [
        f"TD/{LPD5_TRACKS[a]}-{LPD5_TRACKS[b]}" for a, b in itertools.combinations(pitched, 2)
    ]
    return names + list(GLOBAL_STATS)


def piece_track_stats(
    notes: np.ndarray,
    track_ids: Sequence[int],
    ranges: TrackRanges,
    resolution: int = RESOLUTION,
) -> dict[str, float]:
    """Every per-instrument statistic of one piece (``track_stat_names``); NaN where
    undefined."""
    notes = np.asarray(notes)
    out: dict[str, float] = {}
    total = len(notes)
    lengths = note_lengths(notes, resolution) / resolution if total else np.zeros(0)
    for tid in track_ids:
        name = LPD5_TRACKS[tid]
        sel = notes["track"] == tid
        pitch = notes["pitch"][sel].astype(np.float64)
        has = pitch.size > 0
        out[f"share/{name}"] = float(sel.mean()) if total else NAN
        out[f"pitch_mean/{name}"] = float(pitch.mean()) if has else NAN
        out[f"pitch_std/{name}"] = float(pitch.std()) if has else NAN
        out[f"pitch_range/{name}"] = float(pitch.max() - pitch.min()) if has else NAN
        out[f"out_of_range/{name}"] = ranges.outside(notes, tid)
        out[f"EB/{name}"] = empty_bar_rate(notes, tid, resolution)
        out[f"overlap/{name}"] = same_pitch_overlap(notes, tid, resolution)
        if IS_DRUM[tid]:
            out[f"DP/{name}"] = drum_pattern_consistency(notes, resolution) if has else NAN
            continue
        out[f"duration/{name}"] = float(lengths[sel].mean()) if has else NAN
        out[f"polyphony/{name}"] = (
            polyphony(track_notes(notes, sel, resolution), resolution) if has else NAN
        )
        out[f"UPC/{name}"] = used_pitch_classes(notes, tid, resolution)
        out[f"QN/{name}"] = qualified_note_rate(notes, tid, resolution)
    for a, b in itertools.combinations(_pitched(track_ids), 2):
        out[f"TD/{LPD5_TRACKS[a]}-{LPD5_TRACKS[b]}"] = tonal_distance(notes, a, b, resolution)
    out["scale_consistency"] = scale_consistency(notes)
    out["pitch_class_entropy"] = pitch_class_entropy(notes)
    out["semitone_clusters"] = semitone_cluster_share(notes, resolution)
    return out


Stat = dict[str, float]


def summarise(values: Sequence[float]) -> Stat:
    """``{"mean", "std", "n"}`` over the finite values (population std; NaN for none)."""
    vals = np.asarray(values, dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    return {
        "mean": float(ok.mean()) if ok.size else NAN,
        "std": float(ok.std()) if ok.size else NAN,
        "n": int(ok.size),
    }


def track_table(
    sets: Mapping[str, Sequence[np.ndarray]],
    track_ids: Sequence[int],
    ranges: TrackRanges,
    resolution: int = RESOLUTION,
) -> dict[str, dict[str, Stat]]:
    """``table[stat][row] = {"mean", "std", "n"}`` over each set's pieces.

    Parameters
    ----------
    sets : mapping of str to sequence of ndarray, NOTE_DTYPE
        One entry per row: the model's samples, the real ones, each control.
    ranges : TrackRanges
        Fitted on the reference set (``out_of_range``).
    """
    per_set = {
        row: [piece_track_stats(p, track_ids, ranges, resolution) for p in pieces]
        for row, pieces in sets.items()
    }
    return {
        stat: {row: summarise([s[stat] for s in stats]) for row, stats in per_set.items()}
        for stat in track_stat_names(track_ids)
    }


def worst_out_of_range(table: Mapping[str, Mapping[str, Stat]], row: str) -> float:
    """The largest mean ``out_of_range`` share of any pitched track in ``row`` (NaN if none)."""
    values = [
        cells[row]["mean"]
        for stat, cells in table.items()
        if stat.startswith("out_of_range/")
        and not IS_DRUM[LPD5_TRACKS.index(stat.split("/", 1)[1])]
        and row in cells
        and math.isfinite(cells[row]["mean"])
    ]
    return max(values) if values else NAN
