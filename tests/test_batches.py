"""The training order: drawn from (seed, epoch), sharded over ranks without repeats, the same
with DataLoader workers and after a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from musegen.data.batches import EpochOrder, ShardedBatches
from musegen.data.permutation import Permutation


def _epoch(n: int, batch: int, world: int, epoch: int = 3, seed: int = 7) -> list[list[list[int]]]:
    """Every rank's batches of one epoch."""
    ranks = []
    for rank in range(world):
        order = EpochOrder(n, seed, epoch=epoch)
        ranks.append(list(ShardedBatches(order, batch, rank, world)))
    return ranks


@pytest.mark.parametrize("n", [96, 100, 97, 65, 3])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_every_window_once_per_epoch_and_none_twice(n: int, world: int) -> None:
    batch = 8
    ranks = _epoch(n, batch, world)
    lengths = {len(batches) for batches in ranks}
    assert len(lengths) == 1  # every rank takes the same number of steps
    assert lengths == {len(ShardedBatches(EpochOrder(n, 7), batch, 0, world))}
    seen = np.concatenate([np.concatenate(b) for b in ranks if b] or [np.zeros(0, int)])
    assert len(seen) == len(set(seen.tolist()))  # none twice
    left_out = n - len(seen)
    rest = n % (batch * world)
    assert left_out == (rest if rest < world else 0)  # only a too-short last global batch
    assert all(len(b) >= 1 for batches in ranks for b in batches)


def test_ranks_together_make_the_one_process_batches() -> None:
    """DDP with batch B on 2 ranks sees what one process with batch 2B sees, step by step."""
    single = _epoch(1000, 64, 1)[0]
    r0, r1 = _epoch(1000, 32, 2)
    assert len(single) == len(r0) == len(r1)
    for whole, a, b in zip(single, r0, r1, strict=True):
        assert whole == a + b


def test_order_is_drawn_from_seed_and_epoch_alone() -> None:
    """The same order for the same (seed, epoch), in any process; a new one each epoch."""
    expected = list(EpochOrder(300, 5, epoch=2))
    assert sorted(expected) == list(range(300)) and expected != list(range(300))
    assert list(EpochOrder(300, 5, epoch=3)) != expected
    assert list(EpochOrder(300, 6, epoch=2)) != expected
    order = EpochOrder(300, 5)
    order.set_epoch(2)
    assert list(order) == expected
    assert order.positions(100, 164).tolist() == expected[100:164]  # a batch = its slice


@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 65, 1000, 4097, 100_003])
def test_permutation_is_a_bijection_of_range_n(n: int) -> None:
    perm = Permutation(n, seed=11)
    values = perm(np.arange(n))
    assert values.dtype == np.int64 and np.array_equal(np.sort(values), np.arange(n))


def test_permutation_has_no_visible_structure() -> None:
    """Neighbouring positions land far apart and the order does not follow the position:
    windows of one song (consecutive indices) are spread over the epoch."""
    n = 1_000_003
    values = Permutation(n, seed=3)(np.arange(n)).astype(np.float64)
    assert abs(np.corrcoef(np.arange(n), values)[0, 1]) < 0.01
    gaps = np.abs(np.diff(values))
    assert abs(gaps.mean() / n - 1 / 3) < 0.01  # |U - V| of two uniforms: mean 1/3
    assert np.mean(gaps < 1000) < 0.005  # about 2 x 1000 / n if uniform
    first = Permutation(n, seed=3)(np.arange(0, n, 10_007))  # a strided slice, same values
    assert np.array_equal(first, values[::10_007].astype(np.int64))


def test_workers_and_a_resume_give_the_same_batches(bach_small: Path, tmp_path: Path) -> None:
    """Epoch 2's batches, with 2 workers in a loader made at epoch 2 (a resumed run), are
    those of a run without workers that reached epoch 2 by set_epoch."""
    from musegen.data.datamodule import NoteDataModule

    dm = NoteDataModule(
        source="bach",
        data_dir=str(bach_small),
        tracks=["Piano"],
        batch_size=16,
        max_songs=24,
        seed=11,
        progress=False,
    )
    dm.prepare_data()
    dm.setup("fit")
    plain = dm.train_dataloader()
    plain.batch_sampler.sampler.set_epoch(2)
    expected = [b["pitch"] for b, _ in zip(plain, range(6), strict=False)]

    dm.num_workers = 2
    order = EpochOrder(len(dm.windows["train"]), dm.seed, epoch=2)  # what a resume makes
    resumed = DataLoader(
        dm.windows["train"],
        batch_sampler=ShardedBatches(order, 16),
        num_workers=2,
        collate_fn=lambda b: b,
    )
    got = [b["pitch"] for b, _ in zip(resumed, range(6), strict=False)]
    assert len(expected) == 6
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a, b)
