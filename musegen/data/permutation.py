"""A seeded permutation of ``[0, n)`` computed a slice at a time, in memory of the slice.

An epoch over LPD-5 cleansed has 45 million training windows (stride 1, 25 notes), and over
lpd_5_full about 370 million: a materialised permutation (``torch.randperm``) is 8 bytes a
window, 0.36 GB and 3 GB held by every training process (and every DDP rank) all epoch,
growing with the dataset. ``Permutation`` instead maps each position to its window with a
balanced Feistel network over the smallest even number of bits that covers ``n`` (a
bijection on ``[0, 2^bits)`` for any round function), walking values outside ``[0, n)``
through the network again until they fall inside ("cycle walking", Black & Rogaway 2002),
which keeps it a bijection on ``[0, n)``. Six rounds of a 64-bit mixing function (SplitMix64's
finaliser) keyed from the seed give an order with no visible structure; every step is a
numpy operation on the whole slice.
"""

from __future__ import annotations

import numpy as np

_M1, _M2, _M3 = (
    np.uint64(0x9E3779B97F4A7C15),
    np.uint64(0xBF58476D1CE4E5B9),
    np.uint64(0x94D049BB133111EB),
)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: every input bit reaches every output bit (uint64, wrapping)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M2
    x = x ^ (x >> np.uint64(27))
    x = x * _M3
    return x ^ (x >> np.uint64(31))


class Permutation:
    """``perm(positions)``: the windows at those positions of the order drawn from ``seed``."""

    ROUNDS = 6

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError(f"a permutation of {n} items")
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        self.half = np.uint64((bits + 1) // 2)
        self.mask = np.uint64((1 << int(self.half)) - 1)
        rng = np.random.default_rng(int(seed))
        self.keys = rng.integers(0, 2**63, size=self.ROUNDS, dtype=np.uint64)

    def _network(self, x: np.ndarray) -> np.ndarray:
        left, right = x >> self.half, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (_mix((right + key) * _M1) & self.mask)
        return (left << self.half) | right

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """``positions`` (int, within ``[0, n)``) -> window indices, int64, same shape."""
        y = self._network(np.asarray(positions, dtype=np.uint64))
        outside = np.flatnonzero(y >= self.n)
        while outside.size:  # each pass keeps about 1/4 or fewer of the rest
            y[outside] = self._network(y[outside])
            outside = outside[y[outside] >= self.n]
        return y.astype(np.int64)
