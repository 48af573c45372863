"""The evaluation over time: per-bar curves of every row, their overlap with real bars at the
same bar number, and the structure of the pieces, as plain JSON-ready data.

For each row (the model, real vs real, every control) and the reference set:

* **curves**: each per-bar feature (``bars.bar_features``) averaged over the pieces that
  reach the bar, bar by bar;
* **per-bar OA**: for bar ``b``, Yang & Lerch's overlapping area (``overlap.compare_sets``)
  of each per-bar feature of the row's bars ``b`` against the reference's bars ``b``, and
  their mean over the features: how real bar ``b`` looks, bar by bar. Scored where at least
  half of the row's pieces and half of the reference's reach the bar (and ``MIN_PIECES``):
  continuations end after a number of notes, and an OA of the few pieces that reach a late
  bar reads low for real music too. No subsample spread (16 times the cost); the real vs
  real row shows the noise instead;
* **blocks** of ``BLOCK`` bars (1-4, 5-8, ...): the means of the curves and of the per-bar
  OA over the block's bars, and the **OA drop**: the block 1-4 mean minus the mean of the
  last block that real vs real reaches (bars 13-16 of 16-bar pieces from scratch), the same
  two blocks for every row;
* **structure** (``structure.structure``): structureness and structure contrast per piece,
  their mean, std and 10th/50th/90th percentiles over the pieces, and ``in_band``: the share
  of the pieces that lie within the reference's 10th-90th percentiles (real music: about
  0.8). Yang & Lerch's OA is not used here: on one number a piece it cannot tell a set
  bunched inside the reference's range from the reference (bars in broken keys, whose
  structureness is half of real's, score an OA above real's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from musegen.metrics import REAL_ROW
from musegen.metrics.bars import BarLayout, bar_feature_names, bar_features
from musegen.metrics.features import Feature
from musegen.metrics.overlap import compare_sets
from musegen.metrics.structure import STRUCTURE_FEATURES, structure

NAN = float("nan")
BLOCK = 4
"""Bars per block of the tables and of the OA drop."""
MIN_PIECES = 3
"""Fewest pieces of a row (and of the reference) that must reach a bar for its OA."""
MIN_SHARE = 0.5
"""The share of a row's pieces (and of the reference's) that must reach a bar for its OA."""
PERCENTILES = (10.0, 50.0, 90.0)


def _column(j: int) -> Feature:
    """Feature ``j`` of a vector as a one-value feature; None where it is NaN (the piece
    does not have it), which ``compare_sets`` leaves out."""

    def feature(vector: np.ndarray, resolution: int) -> np.ndarray | None:
        value = vector[j : j + 1]
        return value if np.isfinite(value).all() else None

    return feature


def bar_matrix(
    pieces: Sequence[np.ndarray], track_ids: Sequence[int], layout: BarLayout
) -> np.ndarray:
    """``bar_features`` of every piece: shape=(n_pieces, layout.n_max, n_features), float64."""
    n_features = len(bar_feature_names(track_ids))
    if not pieces:
        return np.zeros((0, layout.n_max, n_features))
    return np.stack([bar_features(p, track_ids, layout) for p in pieces])


def _present(values: np.ndarray) -> np.ndarray:
    """Which pieces reach each bar: ``(P, B, F) -> (P, B)`` (every ``notes/`` column is
    finite in a bar reached, the first column is one)."""
    return np.isfinite(values[:, :, 0])


def mean_curves(values: np.ndarray) -> np.ndarray:
    """The mean over pieces of every feature at every bar, NaNs left out:
    ``(P, B, F) -> (B, F)``, NaN where no piece has the value."""
    ok = np.isfinite(values)
    total = np.where(ok, values, 0.0).sum(axis=0)
    count = ok.sum(axis=0)
    out = np.full(total.shape, NAN)
    np.divide(total, count, out=out, where=count > 0)
    return out


def bar_overlap(
    generated: np.ndarray, reference: np.ndarray, names: Sequence[str], seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar OA of a row's bars against the reference's bars at the same bar number.

    Parameters
    ----------
    generated, reference : ndarray, shape=(P, B, F) and (R, B, F), float64
        ``bar_matrix`` of the row and of the reference.

    Returns
    -------
    oa : ndarray, shape=(B,), float64
        The mean OA over the features at each bar; NaN where fewer than ``MIN_SHARE`` of
        either set's pieces, or fewer than ``MIN_PIECES``, reach the bar.
    by_feature : ndarray, shape=(F, B), float64
        Each feature's OA at each bar.
    """
    features = {name: _column(j) for j, name in enumerate(names)}
    n_bars = generated.shape[1]
    oa, by_feature = np.full(n_bars, NAN), np.full((len(names), n_bars), NAN)
    gen_has, ref_has = _present(generated), _present(reference)
    need_gen = max(MIN_PIECES, MIN_SHARE * len(generated))
    need_ref = max(MIN_PIECES, MIN_SHARE * len(reference))
    for b in range(n_bars):  # one compare_sets a bar: the features of one bar are vectors
        gen, ref = generated[gen_has[:, b], b], reference[ref_has[:, b], b]
        if len(gen) < need_gen or len(ref) < need_ref:
            continue
        result = compare_sets(list(gen), list(ref), features, seed=seed, subsamples=0)
        by_feature[:, b] = [result[name].oa for name in names]
        oa[b] = result["mean"].oa if "mean" in result else NAN
    return oa, by_feature


def block_labels(n_bars: int) -> list[str]:
    """``["1-4", "5-8", ...]``: the blocks of ``BLOCK`` bars that cover ``n_bars`` bars."""
    return [f"{lo + 1}-{lo + BLOCK}" for lo in range(0, n_bars, BLOCK)]


def block_means(curve: np.ndarray) -> list[float]:
    """The mean of a per-bar curve, shape=(B,), over each block's finite values (NaN for a
    block without any)."""
    out = []
    for lo in range(0, curve.size, BLOCK):
        part = curve[lo : lo + BLOCK]
        part = part[np.isfinite(part)]
        out.append(float(part.mean()) if part.size else NAN)
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "p10", "p50", "p90", "n"}`` over the finite values (NaN for none)."""
    vals = np.asarray(values, dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    if ok.size == 0:
        return {"mean": NAN, "std": NAN, "p10": NAN, "p50": NAN, "p90": NAN, "n": 0}
    p10, p50, p90 = (float(v) for v in np.percentile(ok, PERCENTILES))
    mean, std = float(ok.mean()), float(ok.std())
    return {"mean": mean, "std": std, "p10": p10, "p50": p50, "p90": p90, "n": int(ok.size)}


def structure_matrix(pieces: Sequence[np.ndarray], layout: BarLayout) -> np.ndarray:
    """``structure`` of every piece: shape=(n_pieces, len(STRUCTURE_FEATURES)), float64."""
    rows = [structure(p, layout) for p in pieces]
    return np.array([[r[f] for f in STRUCTURE_FEATURES] for r in rows]).reshape(
        len(rows), len(STRUCTURE_FEATURES)
    )


def _curves(values: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    means = mean_curves(values)  # (B, F)
    return {
        "pieces": _present(values).sum(axis=0).tolist(),
        "curves": {name: means[:, j].tolist() for j, name in enumerate(names)},
        "curve_blocks": {name: block_means(means[:, j]) for j, name in enumerate(names)},
    }


def in_band(values: np.ndarray, reference: np.ndarray) -> float:
    """The share of the finite ``values`` within the 10th-90th percentiles of the finite
    ``reference`` values (both shape=(n,)); NaN when either has none."""
    ok, ref = values[np.isfinite(values)], reference[np.isfinite(reference)]
    if ok.size == 0 or ref.size == 0:
        return NAN
    lo, hi = np.percentile(ref, (PERCENTILES[0], PERCENTILES[-1]))
    return float(np.mean((ok >= lo) & (ok <= hi)))


def _structure_summary(values: np.ndarray, reference: np.ndarray) -> dict[str, dict[str, float]]:
    """``spread`` and ``in_band`` of each structure feature: (P, 2), (R, 2) -> JSON."""
    return {
        f: spread(values[:, j]) | {"in_band": in_band(values[:, j], reference[:, j])}
        for j, f in enumerate(STRUCTURE_FEATURES)
    }


def over_time(
    rows: Mapping[str, Sequence[np.ndarray]],
    reference: Sequence[np.ndarray],
    track_ids: Sequence[int],
    layout: BarLayout,
    seed: int = 0,
    real: str = REAL_ROW,
) -> dict[str, Any]:
    """Everything the evaluation over time reports of one kind of sample (module docstring).

    Returns
    -------
    dict
        ``bars`` (curve length), ``blocks`` (labels), ``features`` (per-bar feature names),
        ``drop`` (``{"from", "to"}`` block labels, or None when real vs real reaches only the
        first block), ``reference`` (``pieces``, ``curves``, ``curve_blocks``,
        ``structure``: feature -> ``spread`` and ``in_band``) and ``rows``: row -> the same
        plus ``oa`` (per bar), ``oa_features`` (feature -> per bar), ``oa_blocks`` and
        ``oa_drop``. NaN where undefined.
    """
    names = bar_feature_names(track_ids)
    ref_values = bar_matrix(reference, track_ids, layout)
    ref_structure = structure_matrix(reference, layout)
    labels = block_labels(layout.n_max)
    out_rows: dict[str, Any] = {}
    for row, pieces in rows.items():
        values = bar_matrix(pieces, track_ids, layout)
        oa, by_feature = bar_overlap(values, ref_values, names, seed)
        out_rows[row] = _curves(values, names) | {
            "oa": oa.tolist(),
            "oa_features": {name: by_feature[j].tolist() for j, name in enumerate(names)},
            "oa_blocks": block_means(oa),
            "structure": _structure_summary(structure_matrix(pieces, layout), ref_structure),
        }
    real_blocks = out_rows.get(real, {}).get("oa_blocks", [])
    reached = [i for i, v in enumerate(real_blocks) if i > 0 and np.isfinite(v)]
    drop = {"from": labels[0], "to": labels[reached[-1]]} if reached else None
    for result in out_rows.values():
        blocks = result["oa_blocks"]
        result["oa_drop"] = blocks[0] - blocks[reached[-1]] if reached else NAN
    return {
        "bars": layout.n_max,
        "blocks": labels,
        "features": names,
        "drop": drop,
        "reference": _curves(ref_values, names)
        | {"structure": _structure_summary(ref_structure, ref_structure)},
        "rows": out_rows,
    }
