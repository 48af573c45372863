"""Deterministic train/val/test assignment by song id.

Each song's split comes from a hash of its id alone, so the split never depends on which
other songs are present: adding songs to a dataset never moves an existing song between
splits, and no window of a song can leak from one split into another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

SPLITS: tuple[str, ...] = ("train", "val", "test")


def check_fractions(fractions: Sequence[float] | str) -> tuple[float, float, float]:
    """Validate ``data.split``: [train, val, test] fractions summing to 1, or the name of one
    split that takes every song (``test``: score a model on a whole held-out collection).

    A split without training songs is valid here; training on it fails in the datamodule.
    """
    if isinstance(fractions, str):
        if fractions not in SPLITS:
            raise ValueError(
                f"data.split: {fractions!r} is neither [train, val, test] fractions nor one "
                f"of {list(SPLITS)}"
            )
        return tuple(float(name == fractions) for name in SPLITS)  # type: ignore[return-value]
    if len(fractions) != 3:
        raise ValueError(
            f"data.split: expected [train, val, test] fractions, got {list(fractions)}"
        )
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"data.split: fractions must be numbers, got {list(fractions)}") from None
    if min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"data.split: fractions must be >= 0 and sum to 1; got {list(fractions)}")
    return fr  # type: ignore[return-value]


def song_unit(song_id: str) -> float:
    """Map a song id to a stable pseudo-random number in [0, 1) (SHA-1 based)."""
    digest = hashlib.sha1(song_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(song_ids: Iterable[str], fractions: Sequence[float]) -> np.ndarray:
    """Return the split index (0 train, 1 val, 2 test) of each song id.

    Songs whose hash falls below ``train`` go to train, below ``train + val`` to val, the rest
    to test, so the expected shares equal the fractions.
    """
    train, val, _ = check_fractions(fractions)
    units = np.fromiter((song_unit(s) for s in song_ids), dtype=np.float64)
    return np.where(units < train, 0, np.where(units < train + val, 1, 2)).astype(np.int64)
