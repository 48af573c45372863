"""Velocity as a few classes chosen from the data (``task.velocity_classes``).

MIDI velocities run 1-127, but a song uses a few dozen of them (POP909: 33-36 a song) and
the ear tells apart far fewer. The classes split the training notes' velocities into
``n`` ranges of about equal counts (quantiles of their histogram), so a value many notes
share (127, 100, 64 in Lakh) gets a class of its own and rare extremes share one; each
class decodes to the median velocity of its training notes. A velocity comes back from
its class within the class's width.

The classes are fitted once, from the training songs, before the network is built
(``instantiate.task``), and stored in the network's config (``NoteNetConfig.velocity``), so
a checkpoint decodes them without the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VelocityClasses:
    """Velocity ranges and the value each decodes to.

    Attributes
    ----------
    starts : tuple of int
        The lowest velocity of each class but the first (class 0 starts at 0), ascending:
        class ``k`` holds ``[starts[k - 1], starts[k])``.
    values : tuple of int
        The velocity each class decodes to (the median of its training notes), one a class.
    """

    starts: tuple[int, ...]
    values: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(int(s) for s in self.starts))
        object.__setattr__(self, "values", tuple(int(v) for v in self.values))
        if len(self.values) != len(self.starts) + 1 or not self.values:
            raise ValueError("velocity classes: one value a class, one start a class but the first")
        if any(b <= a for a, b in itertools.pairwise(self.starts)):
            raise ValueError("velocity classes: the starts must increase")

    @property
    def size(self) -> int:
        return len(self.values)

    @classmethod
    def fit(cls, counts: np.ndarray, n: int) -> VelocityClasses:
        """``n`` classes of about equal counts from a velocity histogram (``shape=(128,)``,
        notes per velocity): class ``k`` starts above the ``k / n`` quantile. Values no
        note has are given to the class below; fewer classes result when a few values hold
        most notes (a song at one velocity gives one class)."""
        counts = np.asarray(counts, dtype=np.int64).reshape(-1)[:128]
        if n < 1:
            raise ValueError(f"task.velocity_classes must be an integer >= 0, got {n}")
        total = int(counts.sum())
        if total == 0:
            return cls((), (100,))
        cdf = np.cumsum(counts)
        cuts = np.searchsorted(cdf, np.arange(1, n) * total / n, side="left") + 1
        used = np.flatnonzero(counts)
        cuts = np.unique(cuts[(cuts > used[0]) & (cuts <= used[-1])])
        edges = np.concatenate([[0], cuts, [128]])
        values = []
        for lo, hi in itertools.pairwise(edges):
            part = counts[lo:hi]
            middle = np.searchsorted(np.cumsum(part), (part.sum() + 1) / 2)
            values.append(int(lo + middle) if part.sum() else int((lo + hi - 1) // 2))
        return cls(tuple(cuts.tolist()), tuple(values))

    @classmethod
    def uniform(cls, n: int) -> VelocityClasses:
        """``n`` classes of equal width over 1-127, each decoding to its middle: for a
        network built without data to fit them on (tests, a network built by hand)."""
        edges = np.linspace(1, 128, n + 1).round().astype(np.int64)
        return cls(tuple(edges[1:-1].tolist()), tuple(((edges[:-1] + edges[1:] - 1) // 2).tolist()))

    def encode(self, velocity: np.ndarray) -> np.ndarray:
        """Velocities -> class indices (int64, same shape)."""
        return np.searchsorted(np.asarray(self.starts), np.asarray(velocity), side="right")

    def decode(self, classes: np.ndarray) -> np.ndarray:
        """Class indices -> velocities (int64)."""
        return np.asarray(self.values, dtype=np.int64)[np.asarray(classes, dtype=np.int64)]

    def width(self, velocity: np.ndarray) -> np.ndarray:
        """The width of the class of each velocity (the last class ends at 127)."""
        edges = np.array([0, *self.starts, 128])
        k = self.encode(velocity)
        return edges[k + 1] - edges[k]

    def to_dict(self) -> dict[str, Any]:
        return {"starts": list(self.starts), "values": list(self.values)}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any] | None) -> VelocityClasses | None:
        return None if not value else cls(tuple(value["starts"]), tuple(value["values"]))
