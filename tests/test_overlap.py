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
