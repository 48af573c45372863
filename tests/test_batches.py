"""The training order: drawn from (seed, epoch), sharded over ranks without repeats, the same
with DataLoader workers and after a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

from musegen.data.batches import EpochOrder, ShardedBatches, derived_seed


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


def test_order_is_randomsamplers_draw_for_seed_and_epoch() -> None:
    """The same permutation as torch's RandomSampler with that generator (what training used
    before the datamodule owned the order), and a new one each epoch."""
    gen = torch.Generator()
    gen.manual_seed(derived_seed(5, 2, stream=1))
    expected = list(RandomSampler(range(300), generator=gen))
    assert list(EpochOrder(300, 5, epoch=2)) == expected
    assert list(EpochOrder(300, 5, epoch=3)) != expected
    order = EpochOrder(300, 5)
    order.set_epoch(2)
    assert list(order) == expected


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
