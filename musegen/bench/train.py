"""Training speed: ``python -m musegen.bench.train`` (or ``make bench ARGS=train``).

Prints, for each backbone at its default size (conf/model/*.yaml):

* training throughput in predicted notes per second, for ``task.target=all`` (every position
  of a window is a prediction) and ``task.target=last`` (one per window; TensorFlow's tutorial's);
* the Lightning task's time per step over a plain PyTorch loop (same network, loss, Adam,
  gradient clipping, batches), measured alternately in the same run: the ratio is the
  task's overhead.

The batches are real notes (Bach chorales from ``paths.data_dir``, built on first use) held in
memory, so data loading is left out of both sides. No assertions: read the ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator

import lightning as L
import torch

from musegen import instantiate as build
from musegen.bench.report import Row
from musegen.bench.timing import Timing
from musegen.config_checks import group_choices
from musegen.models.objective import batch_losses
from musegen.models.task import NextNoteTask
from musegen.train import compose_config


def real_batches(n: int, batch_size: int, seq_len: int, data_dir: str | None) -> list[dict]:
    """``n`` batches of real windows, in memory."""
    overrides = [
        "data.max_songs=60",
        "data.progress=false",
        f"data.batch_size={batch_size}",
        f"data.seq_len={seq_len}",
    ]
    if data_dir:
        overrides.append(f"paths.data_dir={data_dir}")
    cfg = compose_config(overrides, output_dir="/tmp")
    from hydra.utils import instantiate

    dm = instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("fit")
    out: list[dict] = []
    while len(out) < n:
        for batch in dm.train_dataloader():
            if batch["pitch"].shape[0] == batch_size:
                out.append(batch)
            if len(out) == n:
                break
    return out


def make_task(model: str, target: str) -> NextNoteTask:
    cfg = compose_config([f"model={model}", f"task.target={target}"], output_dir="/tmp")
    return build.task(cfg, ["Piano"])


def plain_loop(task: NextNoteTask, batches: list[dict], warmup: int) -> float:
    """Seconds per step of the same training step written as a bare PyTorch loop."""
    net, target = task.net, task.target
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    for i, batch in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        # the task's own objective (models.objective): its heads, weights and pressure
        loss = batch_losses(net, batch, target, task.weights, task.pressure)[0]["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    return (time.perf_counter() - start) / (len(batches) - warmup)


class _Batches:
    """The in-memory batches as one dataloader (a bare list would be many to Lightning)."""

    def __init__(self, batches: list[dict]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.batches)


class _StepClock(L.Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = time.perf_counter()


def lightning_loop(task: NextNoteTask, batches: list[dict], warmup: int, as_run: bool) -> float:
    """Seconds per step of ``NextNoteTask`` under ``L.Trainer``.

    ``as_run``: with the CSV logger and progress bar of a normal run (conf/logger/csv.yaml,
    conf/callbacks/default.yaml); else bare.
    """
    clock = _StepClock(warmup)
    callbacks: list[L.Callback] = [clock]
    kwargs: dict = dict(logger=False, enable_progress_bar=False)
    if as_run:
        from hydra.utils import instantiate

        cfg = compose_config([], output_dir=tempfile.mkdtemp(prefix="musegen-bench-"))
        callbacks.append(instantiate(cfg.callbacks.progress_bar))
        kwargs = dict(
            logger=instantiate(cfg.logger.csv), enable_progress_bar=True, log_every_n_steps=20
        )
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_val_batches=0,
        enable_checkpointing=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
        callbacks=callbacks,
        **kwargs,
    )
    trainer.fit(task, train_dataloaders=_Batches(batches))
    return (clock.end - clock.start) / (len(batches) - warmup)


def main(argv: list[str] | None = None) -> None:
    run(argv)


def run(argv: list[str] | None = None) -> list[Row]:
    """Print the table and return its rows: Lightning vs a plain loop, per backbone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="alternating; the best is kept")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=25)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", nargs="*", default=group_choices("model"))
    args = parser.parse_args(argv)

    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.manual_seed(0)
    n = args.steps + args.warmup
    batches = real_batches(n, args.batch_size, args.seq_len, args.data_dir)
    b, t = args.batch_size, args.seq_len
    print(
        f"batch {b} x seq_len {t}, {args.steps} timed steps, {torch.get_num_threads()} threads,"
        f" best of {args.repeats}"
    )
    print(
        f"{'model':<9} {'params':>8} {'ms/step':>8} {'notes/s all':>12} {'notes/s last':>13}"
        f" {'Lightning/plain bare':>21} {'as run':>7}"
    )
    rows = []
    for model in args.models:
        plain, bare, as_run, last = [], [], [], []
        for _ in range(args.repeats):
            task = make_task(model, "all")
            plain.append(plain_loop(task, batches, args.warmup))
            bare.append(lightning_loop(make_task(model, "all"), batches, args.warmup, False))
            as_run.append(lightning_loop(make_task(model, "all"), batches, args.warmup, True))
            last.append(plain_loop(make_task(model, "last"), batches, args.warmup))
        # the one timing rule (bench.timing): the best of the repeats, its spread shown
        p, lb, lr, pl = (Timing(tuple(x)) for x in (plain, bare, as_run, last))
        print(
            f"{model:<9} {task.num_parameters():>8} {lb.best * 1e3:>8.1f}"
            f" {b * t / lb.best:>12.0f} {b / pl.best:>13.0f} {lb.best / p.best:>21.3f}"
            f" {lr.best / p.best:>7.3f}   (spreads: plain {p.spread:.0%}, bare {lb.spread:.0%})",
            flush=True,
        )
        rows += [
            Row(
                "train",
                f"{model} ({task.num_parameters():,} params): a training step, batch {b} x {t}",
                "ms",
                lb.best * 1e3,
                "NextNoteTask under L.Trainer",
                p.best * 1e3,
                "plain PyTorch loop",
                note=f"as run (CSV log, progress bar): {lr.best * 1e3:.1f} ms; spreads "
                f"{lb.spread:.0%}/{p.spread:.0%}",
            ),
            Row(
                "train",
                f"{model}: predicted notes per second (target=all vs the tutorial's last)",
                "notes/s",
                b * t / lb.best,
                "task.target=all",
                b / pl.best,
                "task.target=last",
                higher_is_better=True,
            ),
        ]
    return rows


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
