r"""Structure: whether a piece repeats itself, and in order, from its bar self-similarity.

Wu and Yang ("The Jazz Transformer on the Front Line: Exploring the Shortcomings of
AI-composed Music through Quantitative Measures", ISMIR 2020; their MusDr toolbox) measure
form by a **structureness indicator**: the highest fitness of any repeated segment in the
self-similarity matrix of the piece (synthesised to audio, chroma frames, Müller's fitness
scape plot). Here the same idea on the notes, at the level of bars, kept cheap and exact:

* each bar is the set of its ``(track, pitch, sixteenth-note position)`` onsets (drums
  included: a groove's repetition is form too), and the similarity of two bars the cosine of
  their sets, :math:`S_{ij} = |B_i \cap B_j| / \sqrt{|B_i||B_j|}` (0 beside an empty bar);
* the **time-lag score** of lag :math:`l` is the mean similarity of the bars :math:`l` apart,
  :math:`L(l) = \frac{1}{n - l} \sum_{i} S_{i, i+l}` (Müller, "Fundamentals of Music
  Processing", 2015, Sec. 4.2: the time-lag matrix);
* **structureness** :math:`= \max_{1 \le l \le \min(8, n/2)} L(l)`: how well the piece
  repeats itself at its best period of up to two 4-bar phrases (every lag averages at least
  half the bars' pairs). A bar looped scores 1;
* **structure contrast** = structureness minus the mean of :math:`S` off its diagonal: the
  repetition that comes *in order*, above what any order of the same bars gives. For a
  random order of the bars, every lag's expected score is that mean, so bars shuffled score
  near 0; a loop scores exactly 0 (every bar alike); real music scores above both. With two
  bars read it is 0 by construction (one lag, one pair), and it can fall below 0 when the
  bars alike lie further apart than the lags read.

The two are read together: structureness catches too much repetition (loops), the contrast
a broken order. A share of bars that repeat an earlier bar, or a compression ratio, would
not do: shuffling the bars keeps every repeated bar. Measured by ``tests/test_bars.py`` (48
real 16-bar Lakh excerpts; mean, 10th-90th percentile): structureness real 0.49
(0.10-0.80), bars shuffled 0.38, one bar looped 1.00; contrast real 0.17 (0.05-0.36), bars
shuffled 0.06, looped 0.00 (docs/evaluation.md).
"""

from __future__ import annotations

import numpy as np

from musegen.metrics.bars import BarLayout, bar_similarity

NAN = float("nan")
MAX_LAG = 8
"""Longest lag, in bars, of the time-lag scores: two 4-bar phrases."""

STRUCTURE_FEATURES: tuple[str, ...] = ("structureness", "structure_contrast")


def lag_scores(similarity: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """``L(l)`` for ``l = 1 .. min(max_lag, n // 2)``: shape=(n_lags,), float64."""
    lags = range(1, min(max_lag, similarity.shape[0] // 2) + 1)
    return np.array([np.diagonal(similarity, lag).mean() for lag in lags])


def structure(notes: np.ndarray, layout: BarLayout) -> dict[str, float]:
    """``{"structureness", "structure_contrast"}`` of one piece (module docstring); NaN for
    a piece of fewer than 2 bars or without notes in them."""
    similarity = bar_similarity(notes, layout)
    n = similarity.shape[0]
    if n < 2 or not similarity.any():
        return dict.fromkeys(STRUCTURE_FEATURES, NAN)
    best = float(lag_scores(similarity).max())
    off = float(similarity[~np.eye(n, dtype=bool)].mean())
    return {"structureness": best, "structure_contrast": best - off}
