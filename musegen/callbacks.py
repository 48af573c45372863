"""Training callbacks that are not Lightning's own.

``ResumableRandomness`` makes a run that is killed and resumed from ``last.ckpt`` end with the
same weights as one never interrupted. Lightning restores weights, optimizer and loop
counters but not random number generators, and three things draw random numbers:

* the order of the training windows: the datamodule draws it from ``(seed, epoch)``
  (``musegen.data.batches``), with or without workers and on any number of processes;
* the windows' transpositions (``data.transpose``): from ``(seed, epoch, batch)``
  (``musegen.data.windows``), with a generator of their own;
* dropout (torch's global generator): re-seeded here from ``(seed, batches seen)`` before
  every training step, so a step's masks do not depend on what ran before it.

A resume from a checkpoint written mid-epoch (``interrupted.ckpt``, or ``last.ckpt`` with
``trainer.val_check_interval``) goes on with that epoch's remaining batches: the datamodule
skips those already trained (``data.batches.ShardedBatches``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from musegen.data.batches import derived_seed
from musegen.errors import StopSignals

INTERRUPTED = "interrupted.ckpt"
"""The checkpoint a stopped training run saves (``SaveOnStop``)."""
DROPOUT_STREAM = 2
"""``derived_seed``'s stream of the dropout masks (1: the training order)."""


class ResumableRandomness(L.Callback):
    """Draw dropout from ``(seed, batch count)``; the datamodule orders windows by epoch."""

    def __init__(self, seed: int | None) -> None:
        self.seed = None if seed is None else int(seed)  # None: leave randomness alone

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if self.seed is None:
            return
        # Counts every batch (also accumulated ones); restored with the loops on resume.
        batches = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        torch.manual_seed(derived_seed(self.seed, batches, stream=DROPOUT_STREAM))


class RunStats(L.Callback):
    """How long training took and how fast it went, for ``metrics.json``.

    ``train_time_s`` runs from the first to the last training batch's epoch (data
    preparation and the sanity check left out); ``train_notes_per_s`` counts predicted
    notes: one per window with ``task.target=last``, ``seq_len`` per window with ``all``.
    """

    def __init__(self) -> None:
        self.start = self.end = 0.0
        self.windows = self.notes = 0
        self.train_metrics: dict[str, float] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: object,
        batch: dict,
        batch_idx: int,
    ) -> None:
        batch_size, length = batch["pitch"].shape  # (B, seq_len + 1)
        self.windows += batch_size
        per_window = 1 if getattr(pl_module, "target", "last") == "last" else length - 1
        self.notes += batch_size * per_window

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.end = time.perf_counter()
        # the last epoch's training metrics (val/* come from the tested weights instead)
        self.train_metrics = {
            k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")
        }

    def run_metrics(self) -> dict[str, float]:
        if not self.end:
            return {}
        seconds = max(self.end - self.start, 1e-9)
        return {
            **self.train_metrics,
            "train_time_s": self.end - self.start,
            "train_notes_per_s": self.notes / seconds,
            "train_windows_per_s": self.windows / seconds,
        }


class SaveOnStop(L.Callback):
    """Stop a training run between two steps, never inside one, and save where it stopped.

    A stop (SIGTERM: ``scancel``, a preemption, the end of a time limit; SIGINT: Ctrl-C) that
    arrives while the training loop runs is deferred (``errors.StopSignals.defer``) to
    Lightning's signal connector, which ends the loop with ``SIGTERMException`` after the
    step in progress, or the validation batch in progress; a Ctrl-C is handed to it as the
    SIGTERM it stops on. This then saves ``<dirpath>/interrupted.ckpt``, as
    ``ModelCheckpoint`` would have after that step, so that ``ckpt_path=<it>`` continues
    exactly where the run stopped; ``musegen.training`` writes the run's record and ends with
    the signal's exit code. Before the loop starts and after it ends, a stop is raised at
    once (nothing would be lost). A stop during a validation inside training saves the state
    after the last step: the resumed run ends with the same weights, but Lightning does not
    repeat that validation, so its checkpoint by ``val/loss`` is not made. On SLURM,
    Lightning's own ``SLURMEnvironment`` also saves ``hpc_ckpt_<n>.ckpt`` on the requeue
    signal (docs/scaling.md).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None
        self.signals: StopSignals | None = None  # the run's handler (set by musegen.training)
        self._training = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._training = True
        if self.signals is not None:
            self.signals.defer = _to_lightning

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._undefer()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        training = self._undefer()
        if isinstance(exception, SIGTERMException) and training:
            path = self.dirpath / INTERRUPTED
            trainer.save_checkpoint(path)
            self.saved = path

    def _undefer(self) -> bool:
        """Stop deferring; whether the training loop was running."""
        training, self._training = self._training, False
        if self.signals is not None:
            self.signals.defer = None
        return training


def _to_lightning(signum: int) -> None:
    """Hand a stop to Lightning's signal connector: it stops on SIGTERM, whose handler has
    already run when the signal is SIGTERM itself."""
    if signum != signal.SIGTERM:
        os.kill(os.getpid(), signal.SIGTERM)
