"""Per-sample features for distribution overlap, after Yang & Lerch (2020).

Yang and Lerch, "On the evaluation of generative models in music" (Neural Computing and
Applications 32, 2020; the ``mgeval`` toolbox) describe a piece by a set of features, each a
number or a vector, and compare sets of pieces by the distances between their features
(``overlap``). Their features, re-implemented here on note arrays (``NOTE_DTYPE``; drums are
left out of every pitch feature, since a drum key names an instrument):

=====================================  ====  ============================================
feature                                size  per piece
=====================================  ====  ============================================
``pitch_count``                        1     distinct pitches used (PC)
``pitch_class_histogram``              12    note counts per pitch class, sum 1 (PCH)
``pitch_class_transition_matrix``      144   transitions between the pitch classes of
                                             consecutive notes of one track, sum 1 (PCTM)
``pitch_range``                        1     highest minus lowest pitch (PR)
``pitch_interval``                     1     mean absolute interval between consecutive
                                             notes of one track, semitones (PI)
``note_count_per_bar``                 1     notes per bar (NC, per bar)
``inter_onset_interval``               1     mean gap between distinct onsets, beats (IOI)
``note_length_histogram``              16    note lengths in ``TIME_EDGES`` bins, sum 1 (NLH)
``note_length_transition_matrix``      36    transitions between consecutive notes' length
                                             classes (6 coarse classes), sum 1 (NLTM)
=====================================  ====  ============================================

Ours, because a listener hears them:

* ``pitch_class_histogram_in_key`` (12): the histogram turned so that the tonic of its
  best-fitting major scale is C. Two real songs in different keys are far apart in PCH but
  close here; music that leaves its key is far from both.
* ``instrument_mix`` (one per modelled track, several tracks only): each track's share of
  the notes.
* per modelled track ``t``: ``mean_pitch/<t>`` and ``pitch_range/<t>`` (pitched tracks) and
  ``note_count_per_bar/<t>``.

A feature a piece does not have (no pitched note: no pitch histogram; no bass: no bass mean
pitch) is ``None`` for that piece, which ``overlap`` leaves out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from musegen.data.note_timing import RESOLUTION, note_lengths, note_onsets
from musegen.data.tracks import IS_DRUM, LPD5_TRACKS
from musegen.metrics import musical
from musegen.metrics.musical import SCALES, frequencies, pitch_class_counts
from musegen.metrics.similarity import N_TIME_BINS, TIME_EDGES

Feature = Callable[[np.ndarray, int], "np.ndarray | None"]

LENGTH_CLASS_EDGES = np.array([0, 6, 12, 24, 48, 96, np.iinfo(np.int64).max], dtype=np.int64)
"""The coarse note-length classes of NLTM at 24 steps a beat: under 1/4 beat, 1/4-1/2, 1/2-1,
1-2, 2-4, 4 beats and more (bins ``[lo, hi)``); scaled to other resolutions."""


def _ordered(notes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Pitched notes in onset order (stable: the array's order within an onset), and their
    onsets in time steps."""
    notes = np.asarray(notes)
    onset = note_onsets(notes, resolution)
    keep = ~IS_DRUM[notes["track"]]
    order = np.argsort(onset[keep], kind="stable")
    return notes[keep][order], onset[keep][order]


def _same_track_pairs(track: np.ndarray) -> np.ndarray:
    """Indices ``i`` where note ``i`` and ``i + 1`` of the same track follow each other in
    the track's own order (the array is sorted by track first)."""
    return np.flatnonzero(track[1:] == track[:-1])


def _by_track(notes: np.ndarray) -> np.ndarray:
    """Pitched notes ordered by track, then onset (stable)."""
    return notes[np.argsort(notes["track"], kind="stable")]


def pitch_count(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    pitched, _ = _ordered(notes, resolution)
    return None if pitched.size == 0 else np.array([np.unique(pitched["pitch"]).size], float)


def pitch_class_histogram(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    return frequencies(pitch_class_counts(notes))


def pitch_class_histogram_in_key(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    """PCH turned so that the tonic of the best-fitting major scale (``SCALES`` rows 0-11;
    a minor key counts as its relative major) is at index 0; ties go to the lowest tonic."""
    hist = pitch_class_histogram(notes, resolution)
    if hist is None:
        return None
    tonic = int(np.argmax(SCALES[:12] @ hist))
    return np.roll(hist, -tonic)


def pitch_class_transition_matrix(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    pitched, _ = _ordered(notes, resolution)
    pitched = _by_track(pitched)
    i = _same_track_pairs(pitched["track"])
    if i.size == 0:
        return None
    pc = pitched["pitch"].astype(np.int64) % 12
    return frequencies(np.bincount(pc[i] * 12 + pc[i + 1], minlength=144))


def pitch_range(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    value = musical.pitch_range(notes)
    return None if math.isnan(value) else np.array([value])


def pitch_interval(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    pitched, _ = _ordered(notes, resolution)
    pitched = _by_track(pitched)
    i = _same_track_pairs(pitched["track"])
    if i.size == 0:
        return None
    p = pitched["pitch"].astype(np.float64)
    return np.array([np.abs(p[i + 1] - p[i]).mean()])


def _n_bars(notes: np.ndarray, resolution: int, beats_per_bar: int = 4) -> float:
    """Bars the piece spans, from its first onset's bar to its last note's end (at least 1)."""
    onset = note_onsets(notes, resolution)
    bar = beats_per_bar * resolution
    end = int((onset + note_lengths(notes, resolution)).max())
    return max(1.0, float(-(-end // bar) - int(onset.min()) // bar))


def note_count_per_bar(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    if len(notes) == 0:
        return None
    return np.array([len(notes) / _n_bars(notes, resolution)])


def inter_onset_interval(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    onsets = np.unique(note_onsets(notes, resolution))
    if onsets.size < 2:
        return None
    return np.array([np.diff(onsets).mean() / resolution])


def note_length_histogram(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    pitched, _ = _ordered(notes, resolution)
    if pitched.size == 0:
        return None
    steps = note_lengths(pitched, resolution) * (24 / resolution)  # on the 24-per-beat edges
    bins = np.searchsorted(TIME_EDGES, steps, side="right") - 1
    return frequencies(np.bincount(bins, minlength=N_TIME_BINS))


def note_length_transition_matrix(notes: np.ndarray, resolution: int) -> np.ndarray | None:
    pitched, _ = _ordered(notes, resolution)
    pitched = _by_track(pitched)
    i = _same_track_pairs(pitched["track"])
    if i.size == 0:
        return None
    steps = note_lengths(pitched, resolution) * (24 / resolution)
    k = len(LENGTH_CLASS_EDGES) - 1
    cls = np.searchsorted(LENGTH_CLASS_EDGES, steps, side="right") - 1
    return frequencies(np.bincount(cls[i] * k + cls[i + 1], minlength=k * k))


def _instrument_mix(track_ids: Sequence[int]) -> Feature:
    ids = np.asarray(list(track_ids), dtype=np.int64)

    def feature(notes: np.ndarray, resolution: int) -> np.ndarray | None:
        if len(notes) == 0:
            return None
        return np.bincount(np.asarray(notes)["track"], minlength=5)[ids] / len(notes)

    return feature


def _track_feature(track: int, kind: str) -> Feature:
    def feature(notes: np.ndarray, resolution: int) -> np.ndarray | None:
        notes = np.asarray(notes)
        sel = notes[notes["track"] == track]
        if kind == "count":
            return None if len(notes) == 0 else np.array([sel.size / _n_bars(notes, resolution)])
        if sel.size == 0:
            return None
        p = sel["pitch"].astype(np.float64)
        return np.array([p.mean()]) if kind == "mean" else np.array([p.max() - p.min()])

    return feature


GLOBAL_FEATURES: dict[str, Feature] = {
    "pitch_count": pitch_count,
    "pitch_class_histogram": pitch_class_histogram,
    "pitch_class_histogram_in_key": pitch_class_histogram_in_key,
    "pitch_class_transition_matrix": pitch_class_transition_matrix,
    "pitch_range": pitch_range,
    "pitch_interval": pitch_interval,
    "note_count_per_bar": note_count_per_bar,
    "inter_onset_interval": inter_onset_interval,
    "note_length_histogram": note_length_histogram,
    "note_length_transition_matrix": note_length_transition_matrix,
}
"""Features of the whole piece, in report order."""


def features_for(track_ids: Sequence[int]) -> dict[str, Feature]:
    """Every feature for a model of these LPD-5 tracks: the global ones, the instrument mix
    (several tracks only: one track's mix is always 1) and the per-track ones."""
    out = dict(GLOBAL_FEATURES)
    if len(track_ids) > 1:
        out["instrument_mix"] = _instrument_mix(track_ids)
        for tid in track_ids:
            name = LPD5_TRACKS[tid]
            if not IS_DRUM[tid]:
                out[f"mean_pitch/{name}"] = _track_feature(tid, "mean")
                out[f"pitch_range/{name}"] = _track_feature(tid, "range")
            out[f"note_count_per_bar/{name}"] = _track_feature(tid, "count")
    return out


def feature_matrix(
    pieces: Sequence[np.ndarray], feature: Feature, resolution: int = RESOLUTION
) -> tuple[np.ndarray, np.ndarray]:
    """``feature`` of every piece that has it.

    Returns
    -------
    values : ndarray, shape=(n_defined, size), float64
    rows : ndarray, shape=(n_defined,), int64
        Which pieces (indices into ``pieces``) they belong to.
    """
    values = [feature(np.asarray(p), resolution) for p in pieces]
    rows = np.array([i for i, v in enumerate(values) if v is not None], dtype=np.int64)
    kept = [v for v in values if v is not None]
    if not kept:
        return np.zeros((0, 0)), rows
    return np.stack(kept).astype(np.float64), rows
