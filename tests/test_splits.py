"""Splits are by song, deterministic, and stable when songs are added."""

from __future__ import annotations

import numpy as np
import pytest

from musegen.data.splits import assign_splits, check_fractions


def _ids(n: int, prefix: str = "TR") -> list[str]:
    return [f"{prefix}{i:016d}" for i in range(n)]


def test_shares_follow_fractions() -> None:
    split = assign_splits(_ids(20000), (0.7, 0.1, 0.2))
    shares = np.bincount(split, minlength=3) / split.size
    np.testing.assert_allclose(shares, [0.7, 0.1, 0.2], atol=0.015)


def test_adding_songs_never_moves_existing_ones() -> None:
    old = _ids(3000)
    new = old + _ids(5000, prefix="XX")
    before = assign_splits(old, (0.7, 0.1, 0.2))
    after = assign_splits(new, (0.7, 0.1, 0.2))
    np.testing.assert_array_equal(after[: len(old)], before)
    # the order of the songs does not matter either
    np.testing.assert_array_equal(assign_splits(old[::-1], (0.7, 0.1, 0.2)), before[::-1])


@pytest.mark.parametrize(
    "bad", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1), ("a", 0.5, 0.5), "all"]
)
def test_bad_fractions_name_the_key(bad: tuple | str) -> None:
    with pytest.raises(ValueError, match=r"^data\.split"):
        check_fractions(bad)


def test_a_split_name_puts_every_song_in_it() -> None:
    """``data.split=test`` scores a model on a whole held-out folder (evaluation only)."""
    assert check_fractions("test") == (0.0, 0.0, 1.0)
    assert set(assign_splits(_ids(500), check_fractions("test"))) == {2}
    assert set(assign_splits(_ids(500), (0.0, 0.0, 1.0))) == {2}
