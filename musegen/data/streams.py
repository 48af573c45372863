"""Training batches whose rows run through whole songs, window after window (``data.stream``).

With the default batches every window is drawn at random and the network starts each from a
fresh state: it learns to predict after at most ``seq_len`` notes of a song, and generation
re-reads its last half window when it gets that far (``generation.decode``). Here each row of
the batch is a stream: the songs of the epoch, shuffled, dealt out to the rows, and cut into
consecutive windows of ``seq_len`` notes, so that batch ``t + 1``'s row ``r`` goes on from the
note where batch ``t``'s row ``r`` stopped. The task carries the network's state from one
batch to the next (detached: truncated backpropagation through time, as language models on
long text are trained, e.g. Merity et al., ICLR 2018) and starts it afresh where a row begins
a song (``reset``). The network then learns from whole songs, and generation carries its
state through a whole piece (its ``context`` is None).

Each song's first window starts at a random offset below ``seq_len`` drawn per epoch, so the
windows' edges move from one epoch to the next; the songs are dealt to the rows longest
stream first into the shortest row, and an epoch is as many batches as the shortest row has
windows (the longer rows' last windows wait for another epoch). Everything is drawn from
``(seed, epoch)`` alone: the same order in a worker, on any rank and in a resumed run.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from musegen.data.batches import derived_seed

STREAM_ORDER = 4
"""``derived_seed``'s stream of the songs' order and offsets (1: windows, 2: dropout, 3:
transpositions)."""


class StreamIndices(list):
    """One batch: each row's first note (an index into the split's columns), as a list, with
    ``resets`` (bool, which rows start a song), ``songs`` (each row's song) and ``epoch``."""

    def __init__(self, starts: np.ndarray, resets: np.ndarray, songs: np.ndarray, epoch: int):
        super().__init__(np.asarray(starts, dtype=np.int64).tolist())
        self.resets = np.asarray(resets, dtype=bool)
        self.songs = np.asarray(songs, dtype=np.int64)
        self.epoch = int(epoch)


def epoch_streams(
    offsets: np.ndarray, seq_len: int, rows: int, seed: int, epoch: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The epoch's streams: each row's window starts, resets and songs, ``(rows, T)`` each.

    ``offsets`` ``(n_songs + 1,)`` are the songs' first notes in the split's columns; a
    window holds ``seq_len + 1`` notes and the next one starts ``seq_len`` notes later.
    """
    rng = np.random.default_rng(derived_seed(seed, epoch, STREAM_ORDER))
    lengths = np.diff(np.asarray(offsets, dtype=np.int64))
    shift = rng.integers(0, seq_len, size=lengths.size)  # (n_songs,)
    shift = np.minimum(shift, np.maximum(lengths - seq_len - 1, 0))  # a short song: from 0
    windows = np.maximum(lengths - shift - 1, 0) // seq_len  # (n_songs,)
    order = rng.permutation(lengths.size)
    order = order[windows[order] > 0]
    if order.size < rows:  # a row without a song: no batch at all
        none = np.zeros((rows, 0), np.int64)
        return none, np.zeros((rows, 0), bool), none
    heap = [(0, r) for r in range(rows)]  # (windows so far, row)
    dealt: list[list[int]] = [[] for _ in range(rows)]
    for song in order:  # once an epoch, per song: not a hot path
        count, row = heapq.heappop(heap)
        dealt[row].append(int(song))
        heapq.heappush(heap, (count + int(windows[song]), row))
    steps = min(count for count, _ in heap)
    starts = np.empty((rows, steps), np.int64)
    resets = np.zeros((rows, steps), bool)
    songs = np.empty((rows, steps), np.int64)
    for row, mine in enumerate(dealt):
        mine_windows = windows[mine]  # (k,)
        song = np.repeat(mine, mine_windows)[:steps]  # (steps,)
        first = np.cumsum(mine_windows) - mine_windows  # each song's first window in the row
        k = np.arange(steps) - np.repeat(first, mine_windows)[:steps]  # window within its song
        starts[row] = offsets[song] + shift[song] + k * seq_len
        resets[row] = k == 0
        songs[row] = song
    return starts, resets, songs


class StreamBatches:
    """Rank ``rank``'s rows of each batch of the epoch's streams (``batch_size`` rows a rank,
    ``batch_size * world_size`` streams in all); ``skip_once`` batches are left out once (a
    run resumed mid-epoch), and the first batch after them starts every row afresh, as the
    state carried before the stop is gone."""

    def __init__(
        self,
        offsets: np.ndarray,
        seq_len: int,
        batch_size: int,
        seed: int,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        skip_once: int = 0,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.offsets, self.seq_len = np.asarray(offsets, dtype=np.int64), int(seq_len)
        self.batch_size, self.seed, self.epoch = int(batch_size), int(seed), int(epoch)
        self.rank, self.world_size, self.skip_once = int(rank), int(world_size), int(skip_once)
        self._made: tuple[int, tuple[np.ndarray, ...]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def streams(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This rank's rows of the epoch's streams (``epoch_streams``), made once an epoch."""
        if self._made is None or self._made[0] != self.epoch:
            rows = self.batch_size * self.world_size
            made = epoch_streams(self.offsets, self.seq_len, rows, self.seed, self.epoch)
            mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
            self._made = (self.epoch, tuple(a[mine] for a in made))
        return self._made[1]  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.streams()[0].shape[1])

    def __iter__(self) -> Iterator[StreamIndices]:
        starts, resets, songs = self.streams()
        first, self.skip_once = self.skip_once, 0
        for t in range(first, starts.shape[1]):
            fresh = resets[:, t] | (t == first and first > 0)
            yield StreamIndices(starts[:, t], fresh, songs[:, t], self.epoch)
