"""Distribution overlap (Yang & Lerch): OA and KL on cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from musegen.metrics.features import features_for, pitch_class_histogram_in_key
from musegen.metrics.overlap import compare_sets, densities, kl_divergence, overlap_area


def test_identical_samples_overlap_completely() -> None:
    values = np.random.default_rng(0).gamma(2.0, 1.0, 500)
    assert overlap_area(values, values) == pytest.approx(1.0, abs=1e-12)
    assert kl_divergence(values, values) == pytest.approx(0.0, abs=1e-12)
    constant = np.full(40, 3.0)  # every distance equal: one narrow peak each
    assert overlap_area(constant, constant) == pytest.approx(1.0, abs=1e-12)


def test_disjoint_samples_do_not_overlap() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 0.1, 400), rng.normal(10.0, 0.1, 400)
    assert overlap_area(a, b) < 1e-6
    assert overlap_area(np.full(30, 1.0), np.full(30, 2.0)) < 1e-6


def test_disjoint_samples_have_the_floored_kl_by_hand() -> None:
    """Where ``p`` has mass ``q`` is 0, so KL sees only the floor ``1e-12 * max(q)``:
    ``KL = sum p log p dx - log(1e-12 max q)``, finite (without the floor it is infinite)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 0.1, 400), rng.normal(10.0, 0.1, 400)
    p, q, dx = densities(a, b)
    mass = p > 0
    assert not q[mass].any()  # the premise: disjoint on the grid
    neg_entropy = float(np.sum(p[mass] * np.log(p[mass])) * dx)
    expected = neg_entropy - math.log(1e-12 * q.max())
    assert kl_divergence(a, b) == pytest.approx(expected, rel=1e-9)


def test_two_gaussians_match_their_closed_forms() -> None:
    # N(0, 1) and N(1, 1): OA = 2 * Phi(-1/2) = 0.617, KL = 1/2 nat
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.0, 1.0, 20_000), rng.normal(1.0, 1.0, 20_000)
    assert overlap_area(a, b) == pytest.approx(2 * norm.cdf(-0.5), abs=0.015)
    assert kl_divergence(a, b) == pytest.approx(0.5, abs=0.05)


def _piece(pitches: list[int], tracks: list[int], step: float = 0.5) -> np.ndarray:
    from musegen.data.pianoroll_notes import NOTE_DTYPE

    notes = np.zeros(len(pitches), dtype=NOTE_DTYPE)
    notes["pitch"], notes["track"] = pitches, tracks
    notes["step"], notes["duration"], notes["velocity"] = step, step, 100
    notes["time"] = np.cumsum(np.rint(notes["step"] * 24).astype(np.int64))
    return notes


def test_a_set_against_itself_scores_near_one_and_noise_far_below() -> None:
    rng = np.random.default_rng(3)
    # "real" pieces: C-major melodies around C4 on Piano, bass an octave and more below
    real = [
        _piece(
            list(60 + rng.choice([0, 2, 4, 5, 7, 9, 11], 24)) + list(36 + rng.choice([0, 7], 8)),
            [1] * 24 + [3] * 8,
        )
        for _ in range(40)
    ]
    noise = [
        _piece(list(rng.integers(0, 128, 32)), list(rng.choice([1, 3], 32))) for _ in range(40)
    ]
    features = features_for([1, 3])
    same = compare_sets(real[20:], real[:20], features)
    other = compare_sets(noise, real[:20], features)
    assert same["mean"].oa > 0.8
    assert other["mean"].oa < same["mean"].oa - 0.3
    assert math.isfinite(same["mean"].oa_std) and same["mean"].oa_std < 0.1
    # a feature no generated piece has overlaps nothing: a model without bass scores 0 there
    no_bass = [_piece(list(60 + rng.choice([0, 4, 7], 32)), [1] * 32) for _ in range(10)]
    result = compare_sets(no_bass, real[:20], features)
    assert result["mean_pitch/Bass"].oa == 0.0 and result["mean_pitch/Bass"].n == 0


def test_the_distances_compared_are_those_between_pieces_by_hand() -> None:
    """One number a piece (its first pitch): the reference's intra-set distances are the
    ``|r_i - r_j|`` of its pairs (no piece with itself), the inter-set ones every
    ``|g_i - r_j|``."""

    def first_pitch(notes: np.ndarray, resolution: int) -> np.ndarray:
        return notes["pitch"][:1].astype(np.float64)

    reference = [_piece([p, 40], [1, 1]) for p in (60, 61, 63, 67)]
    generated = [_piece([p, 40], [1, 1]) for p in (60, 62, 65)]
    d_rr = [1, 3, 7, 2, 6, 4]  # 61-60, 63-60, 67-60, 63-61, 67-61, 67-63
    d_gr = [0, 1, 3, 7, 2, 1, 1, 5, 5, 4, 2, 2]  # 60, 62, 65 against 60, 61, 63, 67
    result = compare_sets(generated, reference, {"first": first_pitch}, subsamples=0)
    first = result["first"]
    assert first.oa == pytest.approx(overlap_area(np.array(d_rr), np.array(d_gr)), abs=1e-12)
    assert first.kl == pytest.approx(kl_divergence(np.array(d_rr), np.array(d_gr)), abs=1e-12)
    assert (first.n, first.n_total, first.n_ref) == (3, 3, 4)
    assert result["mean"].oa == first.oa and result["mean"].kl == first.kl


def test_key_normalised_histogram_puts_the_tonic_first() -> None:
    d_major = _piece([62, 64, 66, 67, 69, 71, 73, 74], [1] * 8)  # D E F# G A B C# D
    hist = pitch_class_histogram_in_key(d_major, 24)
    c_major = pitch_class_histogram_in_key(_piece([60, 62, 64, 65, 67, 69, 71, 72], [1] * 8), 24)
    np.testing.assert_allclose(hist, c_major)
    assert hist[0] == pytest.approx(2 / 8)  # the tonic, twice of eight notes


def test_the_spread_and_the_mean_over_subsamples_by_hand() -> None:
    """Subsamples of 80% of each set, drawn without replacement from ``default_rng(seed)``
    (at least 1 generated and 3 reference pieces), generated indices first; each feature's
    spread is the population std of its OA and KL over them, and the mean row averages the
    features draw by draw. Recomputed here from the pairwise distances of one number a piece."""
    from musegen.metrics.overlap import SUBSAMPLE_FRACTION

    def first(notes: np.ndarray, resolution: int) -> np.ndarray:
        return notes["pitch"][:1].astype(np.float64)

    def last(notes: np.ndarray, resolution: int) -> np.ndarray | None:
        return None if notes["pitch"][-1] == 40 else notes["pitch"][-1:].astype(np.float64)

    ref_pitches = [(60, 41), (61, 43), (63, 40), (67, 48), (58, 45), (70, 52), (64, 47), (59, 50)]
    gen_pitches = [(60, 40), (62, 44), (65, 49), (61, 55), (72, 42), (66, 46)]
    reference = [_piece(list(p), [1, 3]) for p in ref_pitches]
    generated = [_piece(list(p), [1, 3]) for p in gen_pitches]
    got = compare_sets(generated, reference, {"first": first, "last": last}, seed=5, subsamples=4)
    n, m = len(generated), len(reference)
    assert SUBSAMPLE_FRACTION == 0.8
    rng = np.random.default_rng(5)
    picks = [(np.arange(n), np.arange(m))]
    for _ in range(4):
        g = rng.choice(n, round(0.8 * n), replace=False)  # 5 of 6
        picks.append((g, rng.choice(m, round(0.8 * m), replace=False)))  # 6 of 8

    def score(column: int, g: np.ndarray, r: np.ndarray) -> tuple[float, float]:
        gv = [gen_pitches[i][column] for i in sorted(g) if gen_pitches[i][column] != 40]
        rv = [ref_pitches[j][column] for j in sorted(r) if ref_pitches[j][column] != 40]
        if len(rv) < 3:
            return math.nan, math.nan
        d_rr = np.array([abs(a - b) for i, a in enumerate(rv) for b in rv[i + 1 :]], float)
        d_gr = np.array([abs(a - b) for a in gv for b in rv], float)
        return overlap_area(d_rr, d_gr), kl_divergence(d_rr, d_gr)

    table = np.array([[score(c, g, r) for g, r in picks] for c in (0, 1)])  # (2, 5, 2)
    for c, name in enumerate(("first", "last")):
        o = got[name]
        assert o.oa == pytest.approx(table[c, 0, 0]) and o.kl == pytest.approx(table[c, 0, 1])
        assert o.oa_std == pytest.approx(table[c, 1:, 0].std())
        assert o.kl_std == pytest.approx(table[c, 1:, 1].std())
    assert (got["last"].n, got["last"].n_total, got["last"].n_ref) == (5, 6, 7)
    assert got["last"].to_dict() == {
        "oa": got["last"].oa, "oa_std": got["last"].oa_std, "kl": got["last"].kl,
        "kl_std": got["last"].kl_std, "n": 5, "n_total": 6, "n_ref": 7,
    }  # fmt: skip
    mean = table.mean(axis=0)  # (5, 2): each draw's mean over the two features
    assert got["mean"].oa == pytest.approx(mean[0, 0]) and got["mean"].kl == pytest.approx(
        mean[0, 1]
    )
    assert got["mean"].oa_std == pytest.approx(mean[1:, 0].std())
    assert got["mean"].kl_std == pytest.approx(mean[1:, 1].std())
    assert (got["mean"].n, got["mean"].n_total, got["mean"].n_ref) == (6, 6, 8)
    assert got["mean"].oa_std > 0 and got["first"].oa_std != got["last"].oa_std
    # the subsamples are the seed's: another seed, other spreads; the same, the same
    other = compare_sets(generated, reference, {"first": first}, seed=6, subsamples=4)
    again = compare_sets(generated, reference, {"first": first}, seed=5, subsamples=4)
    assert other["first"].oa_std != got["first"].oa_std == again["first"].oa_std
    # the default seed is 0
    zero = compare_sets(generated, reference, {"first": first}, subsamples=4)
    assert (
        zero["first"]
        == compare_sets(generated, reference, {"first": first}, seed=0, subsamples=4)["first"]
    )


def test_the_features_read_the_resolution_they_are_given() -> None:
    def at_12(notes: np.ndarray, resolution: int) -> np.ndarray | None:
        return notes["pitch"][:1].astype(np.float64) if resolution == 12 else None

    pieces = [_piece([p, 40], [1, 1]) for p in (60, 61, 63, 67)]
    got = compare_sets(pieces, pieces, {"f": at_12}, resolution=12, subsamples=0)["f"]
    assert got.n == 4 and got.n_ref == 4
    assert compare_sets(pieces, pieces, {"f": at_12}, subsamples=0)["f"].n == 0


def test_the_smallest_sets_subsample_to_themselves_and_a_missing_feature_scores_zero() -> None:
    """One generated piece and three reference pieces: every subsample keeps all of them
    (at least 1 and 3), so the spread is 0. A feature no generated piece has scores OA 0 and
    no KL, and the mean row still counts its 0 (the KL mean leaves it out)."""

    def first(notes: np.ndarray, resolution: int) -> np.ndarray:
        return notes["pitch"][:1].astype(np.float64)

    def second(notes: np.ndarray, resolution: int) -> np.ndarray | None:
        return None if notes["pitch"][1] == 40 else notes["pitch"][1:2].astype(np.float64)

    reference = [_piece([p, q], [1, 1]) for p, q in ((60, 50), (61, 52), (63, 55))]
    generated = [_piece([62, 40], [1, 1])]
    got = compare_sets(generated, reference, {"first": first, "second": second}, subsamples=3)
    assert got["first"].oa_std == 0.0 and got["first"].kl_std == 0.0
    assert got["second"].oa == 0.0 and math.isnan(got["second"].kl) and got["second"].n == 0
    assert got["mean"].oa == pytest.approx(got["first"].oa / 2)
    assert got["mean"].kl == pytest.approx(got["first"].kl)


@pytest.mark.parametrize(
    ("a", "b", "pad"),
    [
        # the wider sample's bandwidth (Scott's rule) pads the grid by 4 bandwidths
        ([0.0, 1.0, 2.0, 3.0], [10.0, 11.0], 4 * np.std([0, 1, 2, 3]) * 4**-0.2),
        ([0.0, 0.5], [10.0, 20.0, 30.0], 4 * np.std([10, 20, 30]) * 3**-0.2),
        # two constant sets: a grid's span / 1024 each side, four times
        ([500.0] * 3, [1000.0] * 3, 4 * 500 / 1024),
        ([1.0, 2.0, 3.0], [7.0] * 3, 4 * np.std([1, 2, 3]) * 3**-0.2),
        # two values have a bandwidth; one value has none
        ([0.0, 1.0], [0.0, 1.0], 4 * 0.5 * 2**-0.2),
        ([5.0], [5.0, 6.0, 7.0], 4 * np.std([5, 6, 7]) * 3**-0.2),
    ],
)
def test_the_grid_spans_both_samples_and_four_bandwidths_by_hand(a, b, pad) -> None:
    p, q, dx = densities(np.array(a), np.array(b))
    lo, hi = min(a + b), max(a + b)
    assert dx == pytest.approx((hi - lo + 2 * pad) / 1024, rel=1e-12)
    assert p.shape == q.shape == (1024,)
    assert p.sum() * dx == pytest.approx(1.0) and q.sum() * dx == pytest.approx(1.0)


def test_one_value_repeated_in_both_sets_gets_a_grid_of_its_own_size() -> None:
    """Every distance equal in both sets: the grid spans max(|value|, 1) around it."""
    _, _, dx = densities(np.array([0.5] * 3), np.array([0.5] * 3))
    assert dx == pytest.approx(8 * 1.0 / 1024 / 1024, rel=1e-12)
    _, _, dx = densities(np.array([5.0] * 3), np.array([5.0] * 3))
    assert dx == pytest.approx(8 * 5.0 / 1024 / 1024, rel=1e-12)


def test_the_densities_are_the_histograms_smoothed_by_a_cut_gaussian_by_hand() -> None:
    """Each density is its sample's histogram on the shared grid, convolved with a Gaussian
    of the sample's bandwidth in bins, cut at 6 bandwidths and zero past the grid's ends (no
    reflection), then scaled to integrate to 1. Rebuilt here with numpy's convolution."""
    a = np.array([0.0, 0.3, 1.0, 1.2, 2.5, 4.0])
    b = np.array([3.0, 3.5, 5.0, 9.0])
    p, q, dx = densities(a, b)
    ha, hb = (float(v.std() * v.size**-0.2) for v in (a, b))
    pad = 4 * max(ha, hb)
    edges = np.linspace(a.min() - pad, b.max() + pad, 1025)
    assert dx == pytest.approx(edges[1] - edges[0], rel=1e-12)
    for got, values, h in ((p, a, ha), (q, b, hb)):
        counts = np.histogram(values, bins=edges)[0].astype(float)
        sigma = h / dx
        radius = int(6.0 * sigma + 0.5)
        j = np.arange(-radius, radius + 1)
        kernel = np.exp(-0.5 * (j / sigma) ** 2)
        smooth = np.convolve(counts, kernel / kernel.sum(), mode="same")
        np.testing.assert_allclose(got, smooth / (smooth.sum() * dx), rtol=1e-9, atol=1e-12)
