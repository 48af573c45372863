"""The paper's "average cosine similarity", made precise.

The paper reports "an average cosine similarity of 0.81" between generated and real music
without saying between which vectors. Here it is the cosine between two histograms of the
same note feature, one of a generated continuation and one of the real continuation it
replaces (``continuation_similarity``). Each feature is a fixed-length histogram of a note
array (``NOTE_DTYPE``), normalised to sum 1:

==============  =====  ===========================================================
feature         size   counts, one per note
==============  =====  ===========================================================
``pitch``       128    MIDI pitch, drum notes ignored
``pitch_class`` 12     pitch mod 12 (C=0), drum notes ignored
``pitch_class_ti`` 12  the same histograms, compared in the best of the 12 transpositions
``step``        16     beats since the previous onset, binned by ``TIME_EDGES``
``duration``    16     note length in beats, binned by ``TIME_EDGES``
==============  =====  ===========================================================

``pitch_class_ti`` is transposition-invariant: ``max_k cos(h_a, roll(h_b, k))``. The plain
pitch-class cosine depends on the key: a flat histogram scores about 0.65 against any tonal
song, more than two real songs in different keys score together, so it cannot tell a tonal
continuation from noise; compared in the best key it can.

Drums are left out of the pitch features because a drum "pitch" names an instrument (GM
percussion key), not a pitch. Histograms count notes, not time steps. Histograms are
non-negative, so a cosine lies in [0, 1]; it is 1 for two songs with proportional
histograms (a song with itself), and it ignores how many notes there are.

A number alone means little: ``musegen.metrics.references`` computes the same measure for
reference continuations (another real song, a unigram sampler, random notes, the primer
repeated) so that a model's value can be placed between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from musegen.data.note_timing import to_grid
from musegen.data.tracks import IS_DRUM
from musegen.metrics.musical import frequencies, pitch_class_counts

TIME_GRID = 24
"""Steps and durations are rounded to this grid (time steps per beat) before binning."""

TIME_EDGES: np.ndarray = np.array(
    [0, 1, 2, 3, 4, 6, 8, 12, 16, 18, 24, 36, 48, 72, 96, 192, np.iinfo(np.int64).max],
    dtype=np.int64,
)
"""Bin edges of the step and duration histograms, in 1/24 beats (bins are ``[lo, hi)``).

In beats: 0, 1/24, 1/12, 1/8, 1/6, 1/4, 1/3, 1/2, 2/3, 3/4, 1, 1.5, 2, 3, 4, 8, inf. They
separate the values music uses (at 4/4: 32nd and 16th notes and their triplets, 8th,
dotted 8th, quarter, dotted quarter, half, dotted half, whole bar, two bars) so that each
common value opens its own bin, and everything from 8 beats on (long rests) shares the last.
The first step bin holds exactly 0: notes that start together (chords, several tracks).
Edges are integers on the 1/24-beat grid so that float32 values such as 1/12 never fall
on the wrong side of an edge.
"""

N_TIME_BINS = len(TIME_EDGES) - 1
FEATURES: tuple[str, ...] = ("pitch", "pitch_class", "pitch_class_ti", "step", "duration")
"""Feature names, in the order reports list them."""


Continuation = Callable[[np.ndarray, int, int], np.ndarray]
"""``generate(primer, n_notes, song_index) -> notes``: a continuation of ``n_notes`` notes."""


def _vector(counts: np.ndarray) -> np.ndarray:
    """``musical.frequencies`` as a vector: all NaN when there is nothing to count, so that
    a cosine with it is NaN (a song without the feature), vectorised over songs."""
    found = frequencies(counts)
    return np.full(np.shape(counts), np.nan) if found is None else found


def _pitched(notes: np.ndarray) -> np.ndarray:
    """The pitches of the non-drum notes (LPD-5 track ids in ``notes["track"]``)."""
    notes = np.asarray(notes)
    return notes["pitch"][~IS_DRUM[notes["track"]]].astype(np.int64)


def pitch_vector(notes: np.ndarray) -> np.ndarray:
    """Frequency of each MIDI pitch among the non-drum notes.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE
        Notes; ``track`` holds LPD-5 track ids (0 = Drums is ignored).

    Returns
    -------
    ndarray, shape=(128,), float64
        ``h[p] = #(notes of pitch p) / #(notes)``, summing to 1; all NaN when no non-drum
        note is given.
    """
    return _vector(np.bincount(_pitched(notes), minlength=128).astype(np.float64))


def pitch_class_vector(notes: np.ndarray) -> np.ndarray:
    """Frequency of each pitch class (C=0, C#=1, ..., B=11) among the non-drum notes.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE

    Returns
    -------
    ndarray, shape=(12,), float64
        ``h[c] = #(notes with pitch % 12 == c) / #(notes)``; all NaN without non-drum notes.
    """
    return _vector(pitch_class_counts(notes))


def time_bins(beats: np.ndarray) -> np.ndarray:
    """Bin index (0-15) of each value in beats, after rounding it to the 1/24-beat grid.

    Parameters
    ----------
    beats : ndarray, shape=(n,), float
        Non-negative steps or durations in beats.

    Returns
    -------
    ndarray, shape=(n,), int64
        ``i`` such that ``TIME_EDGES[i] <= rint(24 * beats) < TIME_EDGES[i + 1]``.
    """
    grid = to_grid(beats, TIME_GRID)
    return np.searchsorted(TIME_EDGES, np.maximum(grid, 0), side="right") - 1


def step_histogram(notes: np.ndarray) -> np.ndarray:
    """Frequency of each step bin (beats since the previous onset), over all notes.

    Drum notes count: a step is the gap between consecutive onsets of the whole note
    sequence the model produces, whatever their tracks.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE

    Returns
    -------
    ndarray, shape=(16,), float64
        Bin ``i`` is ``[TIME_EDGES[i], TIME_EDGES[i + 1])`` in 1/24 beats; sums to 1; all NaN
        for an empty array.
    """
    bins = time_bins(np.asarray(notes)["step"])
    return _vector(np.bincount(bins, minlength=N_TIME_BINS).astype(np.float64))


def duration_histogram(notes: np.ndarray) -> np.ndarray:
    """Frequency of each duration bin (note length in beats), over all notes.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE

    Returns
    -------
    ndarray, shape=(16,), float64
        Same bins as ``step_histogram``; sums to 1; all NaN for an empty array.
    """
    bins = time_bins(np.asarray(notes)["duration"])
    return _vector(np.bincount(bins, minlength=N_TIME_BINS).astype(np.float64))


FEATURE_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pitch": pitch_vector,
    "pitch_class": pitch_class_vector,
    "step": step_histogram,
    "duration": duration_histogram,
}


def features(notes: np.ndarray) -> dict[str, np.ndarray]:
    """Every feature histogram of ``notes`` (see the module docstring), keyed by name."""
    return {name: fn(notes) for name, fn in FEATURE_FUNCTIONS.items()}


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    r"""Cosine similarity of two vectors.

    .. math:: \cos(a, b) = \frac{a \cdot b}{\lVert a \rVert \, \lVert b \rVert}

    Parameters
    ----------
    a, b : ndarray, shape=(d,), float

    Returns
    -------
    float
        In [-1, 1] (in [0, 1] for histograms); NaN when either vector is zero or holds NaN
        (a histogram of nothing).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cosine: shapes differ, {a.shape} vs {b.shape}")
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    if not np.isfinite(norm) or norm == 0.0:
        return float("nan")
    return float(np.clip(np.dot(a, b) / norm, -1.0, 1.0))


def transposed_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The best cosine of pitch-class histogram ``a`` with ``b`` transposed by 0..11
    semitones; NaN when either is empty."""
    rolled = np.stack([np.roll(np.asarray(b, dtype=np.float64), k) for k in range(12)])
    values = [cosine(a, row) for row in rolled]
    return float("nan") if np.isnan(values).any() else float(max(values))


def similarity(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Cosine similarity of each feature histogram, generated vs real.

    Parameters
    ----------
    generated, real : ndarray, shape=(n,) and (m,), NOTE_DTYPE
        Two note arrays (``n`` and ``m`` may differ: histograms are normalised).

    Returns
    -------
    dict of str to float
        ``{feature: cosine(h(generated), h(real))}`` for each of ``FEATURES``; NaN where
        either side has no note to count (e.g. pitch features of drums only).
    """
    fa, fb = features(generated), features(real)
    out = {name: cosine(fa[name], fb[name]) for name in FEATURE_FUNCTIONS}
    out["pitch_class_ti"] = transposed_cosine(fa["pitch_class"], fb["pitch_class"])
    return {name: out[name] for name in FEATURES}


@dataclass
class SimilarityResult:
    """Per-song similarities of one row (a model or a reference) and their summary.

    ``per_song[feature]`` has shape ``(n_songs,)`` (float64, NaN where undefined), aligned
    with ``song_index`` (indices into the songs given; songs too short to split are left
    out and counted in ``n_skipped``). ``std`` is the population standard deviation over
    songs (the spread of songs, not a standard error).
    """

    per_song: dict[str, np.ndarray]
    song_index: np.ndarray
    n_skipped: int = 0
    mean: dict[str, float] = field(init=False)
    std: dict[str, float] = field(init=False)
    n: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.mean, self.std, self.n = {}, {}, {}
        for name, values in self.per_song.items():
            ok = values[np.isfinite(values)]
            self.n[name] = int(ok.size)
            self.mean[name] = float(ok.mean()) if ok.size else float("nan")
            self.std[name] = float(ok.std()) if ok.size else float("nan")

    def summary(self, digits: int = 3) -> dict[str, str]:
        """``{feature: "mean ± std"}``, for tables and logs."""
        return {k: f"{self.mean[k]:.{digits}f} ± {self.std[k]:.{digits}f}" for k in self.mean}

    def to_dict(self) -> dict:
        """Plain JSON-ready values: mean, std, n per feature, the songs used and skipped."""
        return {
            "mean": dict(self.mean),
            "std": dict(self.std),
            "n": dict(self.n),
            "n_skipped": self.n_skipped,
            "per_song": {k: v.tolist() for k, v in self.per_song.items()},
            "song_index": self.song_index.tolist(),
        }


def score_continuations(
    real: Sequence[np.ndarray],
    generated: Sequence[np.ndarray],
    song_index: Sequence[int] | None = None,
) -> SimilarityResult:
    """Similarity of each generated continuation with the real one it stands for.

    Parameters
    ----------
    real, generated : sequence of ndarray, NOTE_DTYPE
        ``real[i]`` and ``generated[i]`` continue the same primer.
    song_index : sequence of int, optional
        Which songs these are (default ``0..len(real)-1``).
    """
    if len(real) != len(generated):
        raise ValueError(f"{len(real)} real continuations but {len(generated)} generated")
    rows = [similarity(g, r) for r, g in zip(real, generated, strict=True)]
    per_song = {name: np.array([row[name] for row in rows], dtype=np.float64) for name in FEATURES}
    index = np.arange(len(real)) if song_index is None else np.asarray(song_index)
    return SimilarityResult(per_song, index.astype(np.int64))


def split_song(
    song: np.ndarray, primer_len: int, max_len: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(primer, real continuation)``: ``song[:P]`` and ``song[P:P + max_len]``."""
    if primer_len < 1:
        raise ValueError(f"primer_len must be >= 1, got {primer_len}")
    stop = None if max_len is None else primer_len + int(max_len)
    return song[:primer_len], song[primer_len:stop]


def continuation_similarity(
    songs: Sequence[np.ndarray],
    generate: Continuation,
    primer_len: int,
    max_len: int | None = None,
) -> SimilarityResult:
    """The paper's measure, made precise: prime with a song's start, compare continuations.

    For each song ``i`` with more than ``primer_len`` notes: the primer is
    ``song[:primer_len]``, the real continuation ``song[primer_len:primer_len + max_len]``
    (to the end by default), and ``generate(primer, len(real_continuation), i)`` gives the
    generated continuation. The result holds ``similarity(generated, real)`` per song and
    its mean ± std over songs, per feature.

    Parameters
    ----------
    songs : sequence of ndarray, NOTE_DTYPE
        Test songs, whole (e.g. ``[split.song(i) for i in range(split.n_songs)]``).
    generate : callable ``(primer, n_notes, song_index) -> ndarray``
        A model's sampler or one of ``musegen.metrics.references``.
    primer_len : int
        Notes given as the primer (>= 1).
    max_len : int, optional
        Compare at most this many continuation notes (bounds the generation time).
    """
    real, generated, index = [], [], []
    skipped = 0
    for i, song in enumerate(songs):
        primer, cont = split_song(song, primer_len, max_len)
        if cont.size == 0:
            skipped += 1
            continue
        real.append(cont)
        generated.append(generate(primer, int(cont.size), i))
        index.append(i)
    result = score_continuations(real, generated, index)
    result.n_skipped = skipped
    return result
