"""Training callbacks that are not Lightning's own.

``ResumableRandomness`` makes a run that is killed and resumed from ``last.ckpt`` end with the
same weights as one never interrupted. Lightning restores weights, optimizer and loop
counters but not random number generators, and two things draw from them:

* the shuffle order of the training windows (``RandomSampler``, seeded from torch's global
  generator when the loader has none): here it is re-seeded from ``(seed, epoch)`` at each
  epoch start, before its first batch is drawn;
* dropout (torch's global generator): re-seeded from ``(seed, batches seen)`` before every
  training step, so a step's masks do not depend on what ran before it.

This holds for loaders with ``num_workers=0`` (the default). With workers, batches are
prefetched when the iterator is created, before the epoch hook, so the first epoch after a
resume keeps the unseeded order. A resume from a checkpoint written mid-epoch restarts that
epoch's batches, as Lightning does.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import RandomSampler

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant: spreads (seed, counter) over 63 bits


def derived_seed(seed: int, counter: int, stream: int) -> int:
    """A seed for ``counter`` (epoch or step) of one ``stream``, from the run's seed."""
    return (seed * _MIX + stream * 0x632BE59BD9B4E019 + counter) % (2**63 - 1)


class ResumableRandomness(L.Callback):
    """Draw the shuffle order from ``(seed, epoch)`` and dropout from ``(seed, batch count)``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loader = trainer.train_dataloader
        sampler = getattr(loader, "sampler", None)
        if isinstance(sampler, RandomSampler):
            gen = torch.Generator()
            gen.manual_seed(derived_seed(self.seed, trainer.current_epoch, stream=1))
            sampler.generator = gen

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        # Counts every batch (also accumulated ones); restored with the loops on resume.
        batches = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        torch.manual_seed(derived_seed(self.seed, batches, stream=2))
