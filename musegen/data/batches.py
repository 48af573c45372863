"""Which windows go in which batch, on which process: epoch-seeded order, sharded by rank.

The datamodule owns the order of the training windows, so it is the same with or without
DataLoader workers, across a resume, and across any number of processes:

* ``EpochOrder`` is a permutation of the windows drawn from ``(seed, epoch)`` alone,
  computed one global batch at a time (``data.permutation``: nothing of the size of the
  dataset is held, however many windows an epoch has). Lightning calls its
  ``set_epoch`` before each epoch's iterator is made, and the datamodule sets the epoch a
  resumed run restarts at before the first, so workers, which take their indices when the
  iterator is made, never see a stale order.
* ``ShardedBatches`` cuts the order into global batches of ``batch_size x world_size`` windows
  and gives each rank its slice. Under DDP (gradients averaged over ranks) a step then sees
  exactly the windows one process with the global batch would see, every window once per
  epoch and none twice: unlike Lightning's ``DistributedSampler``, nothing is padded by
  repeating windows. The one exception: when an epoch's last global batch has fewer windows
  than there are ranks, those few (at most ``world_size - 1``, different ones each epoch) are
  left out, since every rank must take the same number of steps.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import BatchSampler, Sampler

from musegen.data.permutation import Permutation

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, counter) over 63 bits


def derived_seed(seed: int, counter: int, stream: int) -> int:
    """A seed for ``counter`` (epoch or step) of one ``stream``, from the run's seed."""
    return (seed * _MIX + stream * 0x632BE59BD9B4E019 + counter) % (2**63 - 1)


SHUFFLE_STREAM = 1
"""``derived_seed``'s stream of the training order (2: dropout, in ``musegen.callbacks``)."""


class EpochOrder(Sampler[int]):
    """All ``n`` window indices, shuffled from ``(seed, epoch)`` (or in order)."""

    def __init__(self, n: int, seed: int, shuffle: bool = True, epoch: int = 0) -> None:
        self.n, self.seed, self.shuffle, self.epoch = int(n), int(seed), shuffle, int(epoch)
        self._perm: tuple[int, Permutation] | None = None  # this epoch's, made on first use

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def positions(self, start: int, stop: int) -> np.ndarray:
        """The windows at positions ``[start, stop)`` of this epoch's order, int64."""
        stop = min(stop, self.n)
        if not self.shuffle:
            return np.arange(start, stop, dtype=np.int64)
        if self._perm is None or self._perm[0] != self.epoch:
            seed = derived_seed(self.seed, self.epoch, SHUFFLE_STREAM)
            self._perm = (self.epoch, Permutation(self.n, seed))
        return self._perm[1](np.arange(start, stop, dtype=np.int64))

    def order(self) -> np.ndarray:
        """This epoch's whole order, shape=(n,), int64 (for tests and small ``n``)."""
        return self.positions(0, self.n)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order().tolist())

    def __len__(self) -> int:
        return self.n


class ShardedBatches(BatchSampler):
    """Rank ``rank``'s share of each global batch of ``batch_size * world_size`` windows.

    ``batch_size`` is per process, as in Lightning. ``len`` is the same on every rank.
    """

    def __init__(
        self,
        sampler: EpochOrder,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        skip_once: int = 0,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        super().__init__(sampler, batch_size, drop_last=False)
        self.rank, self.world_size = int(rank), int(world_size)
        self.skip_once = int(skip_once)

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size * self.world_size)
        return full + (rest >= self.world_size)

    def __iter__(self) -> Iterator[list[int]]:
        step = self.batch_size * self.world_size
        first, self.skip_once = self.skip_once * step, 0  # a run resumed mid-epoch: once
        for start in range(first, len(self.sampler), step):
            chunk = self.sampler.positions(start, start + step)  # one global batch, vectorised
            if len(chunk) < self.world_size:
                return
            if len(chunk) == step:
                share = chunk[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            else:  # the last, short global batch: as even a split as there is
                share = np.array_split(chunk, self.world_size)[self.rank]
            yield share.tolist()
