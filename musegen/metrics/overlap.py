r"""Distribution overlap of two sets of pieces, after Yang & Lerch (2020).

A cosine between one generated piece and the real piece it continues rewards copying: the
primer repeated, or a unigram sampler, scores above another real song. Yang and Lerch ("On
the evaluation of generative models in music", Neural Computing and Applications 32, 2020;
the ``mgeval`` toolbox, Python 2 without a licence, re-implemented here with NumPy and SciPy)
compare *sets* instead. For one feature ``f`` (``features``) of a reference set ``R`` (real
music) and a generated set ``G``:

* the intra-set distances of the reference,
  :math:`D_{RR} = \{\lVert f(r_i) - f(r_j)\rVert_2 : i < j\}`;
* the inter-set distances, :math:`D_{GR} = \{\lVert f(g_i) - f(r_j)\rVert_2\}`;
* a Gaussian kernel density estimate of each, :math:`p` of :math:`D_{RR}` and :math:`q` of
  :math:`D_{GR}`, with Scott's bandwidth :math:`h = \sigma n^{-1/5}` (SciPy's default);
* the **overlapping area** :math:`OA = \int \min(p(x), q(x))\,dx` (1: the generated pieces lie
  as far from the real ones as real pieces lie from each other; 0: nothing alike) and the
  **Kullback-Leibler divergence** :math:`KL(p \Vert q) = \int p \log(p / q)\,dx` (nats; 0 alike).

If ``G`` is drawn from the same distribution as ``R``, :math:`D_{GR}` has the law of
:math:`D_{RR}` and OA tends to 1. A set that copies one typical piece has inter-set distances
smaller than real pieces have between each other, a set of noise larger ones: either moves
``q`` away from ``p``. One summary per model: the mean OA over the features.

Computation: each density is a histogram of the distances on a common grid of ``GRID``
points (spanning both sets plus four bandwidths), smoothed by the Gaussian kernel
(``scipy.ndimage.gaussian_filter1d``), which equals the exact KDE up to the grid's bin width
at a fraction of its cost. A set whose distances are all equal (``sigma = 0``) gets one bin's
width as bandwidth. ``mgeval`` evaluates its two densities for KL on two different grids;
here both share one grid, and ``q`` is floored at ``1e-12`` of its peak so that KL stays finite.

Spread: the OA and KL are recomputed on ``subsamples`` random subsets of 80% of each set
(pieces drawn without replacement); the ``std`` reported beside each value is their spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.distance import cdist

from musegen.data.note_timing import RESOLUTION
from musegen.metrics.features import Feature, feature_matrix

GRID = 1024
"""Points of the grid the densities are evaluated on."""

SUBSAMPLES = 10
SUBSAMPLE_FRACTION = 0.8


def _bandwidth(values: np.ndarray) -> float:
    """Scott's rule for one dimension: ``std * n ** (-1/5)``."""
    return float(values.std() * values.size ** (-0.2)) if values.size > 1 else 0.0


def densities(
    a: np.ndarray, b: np.ndarray, grid: int = GRID
) -> tuple[np.ndarray, np.ndarray, float]:
    """Kernel density estimates of two 1-D samples on one grid.

    Returns
    -------
    p, q : ndarray, shape=(grid,)
        Densities of ``a`` and ``b`` (each integrates to 1 over the grid).
    dx : float
        The grid spacing.
    """
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    ha, hb = _bandwidth(a), _bandwidth(b)
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    span = hi - lo
    if span == 0 and ha == 0 and hb == 0:  # every distance equal in both sets
        span = max(abs(hi), 1.0)
    pad = 4 * max(ha, hb, span / grid)
    edges = np.linspace(lo - pad, hi + pad, grid + 1)
    dx = float(edges[1] - edges[0])
    out = []
    for values, h in ((a, ha), (b, hb)):
        counts = np.histogram(values, bins=edges)[0].astype(np.float64)
        sigma = max(h, dx) / dx  # at least one bin: a constant set is one narrow peak
        smooth = gaussian_filter1d(counts, sigma, mode="constant", truncate=6.0)
        out.append(smooth / (smooth.sum() * dx))
    return out[0], out[1], dx


def overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """OA of the densities of two 1-D samples: in [0, 1], 1 for identical samples."""
    p, q, dx = densities(a, b)
    return float(np.minimum(p, q).sum() * dx)


def kl_divergence(a: np.ndarray, b: np.ndarray) -> float:
    """``KL(p_a || p_b)`` in nats, of the densities of two 1-D samples (0 when identical)."""
    p, q, dx = densities(a, b)
    q = np.maximum(q, 1e-12 * q.max())
    mass = p > 0
    return float(np.sum(p[mass] * np.log(p[mass] / q[mass])) * dx)


@dataclass(frozen=True)
class Overlap:
    """OA and KL of one feature for one generated set against the reference.

    ``oa_std``/``kl_std``: the spread over subsamples; ``n``: pieces of the generated set that
    have the feature (of ``n_total``); ``n_ref`` likewise for the reference.
    """

    oa: float
    oa_std: float
    kl: float
    kl_std: float
    n: int
    n_total: int
    n_ref: int

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class _Distances:
    """The distances of one feature: generated pieces to reference pieces, and between
    reference pieces, with which pieces of each set have the feature."""

    def __init__(
        self, gen: np.ndarray, gen_rows: np.ndarray, ref: np.ndarray, ref_rows: np.ndarray
    ):
        self.gen_rows, self.ref_rows = gen_rows, ref_rows
        self.inter = cdist(gen, ref) if len(gen) and len(ref) else np.zeros((len(gen), len(ref)))
        self.intra = cdist(ref, ref) if len(ref) else np.zeros((0, 0))

    def score(self, gen_pick: np.ndarray, ref_pick: np.ndarray) -> tuple[float, float]:
        """OA and KL over the pieces picked (indices into the whole sets)."""
        gi = np.flatnonzero(np.isin(self.gen_rows, gen_pick))
        ri = np.flatnonzero(np.isin(self.ref_rows, ref_pick))
        if len(ri) < 3:
            return math.nan, math.nan
        if len(gi) == 0:  # the generated set never has this feature: nothing overlaps
            return 0.0, math.nan
        d_rr = self.intra[np.ix_(ri, ri)][np.triu_indices(len(ri), 1)]
        d_gr = self.inter[np.ix_(gi, ri)].ravel()
        return overlap_area(d_rr, d_gr), kl_divergence(d_rr, d_gr)


def _spread(values: np.ndarray) -> float:
    ok = values[np.isfinite(values)]
    return float(ok.std()) if ok.size else math.nan


def compare_sets(
    generated: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    features: Mapping[str, Feature],
    resolution: int = RESOLUTION,
    seed: int = 0,
    subsamples: int = SUBSAMPLES,
) -> dict[str, Overlap]:
    """OA and KL of every feature for ``generated`` against ``reference`` (module docstring).

    Parameters
    ----------
    generated, reference : sequence of ndarray, NOTE_DTYPE
        The pieces of each set (LPD-5 track ids).
    features : mapping of str to Feature
        ``features.features_for(track_ids)``.
    seed : int
        Seeds the subsamples of the spread.

    Returns
    -------
    dict of str to Overlap
        One entry per feature, plus ``"mean"``: the mean OA and KL over the features the
        reference set has, its spread taken over the same subsamples as the features'.
    """
    n, m = len(generated), len(reference)
    rng = np.random.default_rng(seed)
    picks = [(np.arange(n), np.arange(m))] + [
        (
            rng.choice(n, max(1, round(SUBSAMPLE_FRACTION * n)), replace=False),
            rng.choice(m, max(3, round(SUBSAMPLE_FRACTION * m)), replace=False),
        )
        for _ in range(subsamples)
    ]
    scores = {}  # feature -> (1 + subsamples, 2): the whole sets first
    counts = {}
    for name, feature in features.items():
        gen, gen_rows = feature_matrix(generated, feature, resolution)
        ref, ref_rows = feature_matrix(reference, feature, resolution)
        dist = _Distances(gen, gen_rows, ref, ref_rows)
        scores[name] = np.array([dist.score(g, r) for g, r in picks], dtype=np.float64)
        counts[name] = (len(gen_rows), len(ref_rows))
    out: dict[str, Overlap] = {}
    for name, s in scores.items():
        out[name] = Overlap(
            s[0, 0],
            _spread(s[1:, 0]),
            s[0, 1],
            _spread(s[1:, 1]),
            counts[name][0],
            n,
            counts[name][1],
        )
    scored = [name for name, s in scores.items() if math.isfinite(s[0, 0])]
    if scored:
        table = np.stack([scores[name] for name in scored])  # (features, draws, 2)
        oa = table[:, :, 0].mean(axis=0)  # (draws,): the mean over features of each draw
        kl = np.nanmean(np.where(np.isfinite(table[:, :, 1]), table[:, :, 1], np.nan), axis=0)
        out["mean"] = Overlap(oa[0], _spread(oa[1:]), kl[0], _spread(kl[1:]), n, n, m)
    return out
