"""Training speed: ``python -m musegen.bench.train`` (or ``make bench ARGS=train``).

Prints, for each backbone at one parameter budget (``task.param_budget``, 800k: equal size):

* training throughput in predicted notes per second, for ``task.target=all`` (every position
  of a window is a prediction) and ``task.target=last`` (one per window; TensorFlow's tutorial's);
* the Lightning task's time per step over a plain PyTorch loop (same network, loss, Adam,
  gradient clipping, batches), measured alternately in the same run: the ratio is the
  task's overhead.

and, for the default backbone on the five tracks of the shared Lakh files (else the Bach
chorales), the chained heads' training throughput against the independent heads' at the
same budget. The batches are real notes (built on first use) held in memory, so data loading
is left out of both sides. No assertions: read the ratios.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch

from musegen import instantiate as build
from musegen.bench.report import Row
from musegen.bench.timing import Timing
from musegen.config_checks import group_choices
from musegen.models.objective import batch_losses
from musegen.models.task import NextNoteTask
from musegen.train import compose_config

BUDGET = 800_000
"""Every network of the benchmark is sized to this many parameters (``task.param_budget``)."""
LAKH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lmd_midi"


def real_batches(
    n: int, batch_size: int, seq_len: int, data_dir: str | None, lakh: bool = False
) -> list[dict]:
    """``n`` batches of real windows, in memory: Bach chorales, or ``lakh``: the shared Lakh
    files' five tracks (``experiment=lakh``'s data)."""
    overrides = [
        *(["experiment=lakh"] if lakh else []),
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


def make_task(
    model: str,
    target: str,
    heads: str = "independent",
    tracks: tuple[str, ...] = ("Piano",),
    extra: tuple[str, ...] = (),
) -> NextNoteTask:
    """The task of ``model`` sized to ``BUDGET``, its heads and tracks as given, with
    ``extra`` overrides."""
    cfg = compose_config(
        [
            f"model={model}",
            f"task.target={target}",
            f"task.heads={heads}",
            f"task.param_budget={BUDGET}",
            *extra,
        ],
        output_dir="/tmp",
    )
    return build.task(cfg, list(tracks))


NOTE_FIELDS_NOW = ("task.velocity_classes=12", "task.encoder.sounding_dim=32")
"""What a note is in ``experiment=lakh`` now, against the four fields it had before:
velocity as a field (equal-width classes here; fitted ones cost the same) and the keys
still sounding as an input."""


def note_rows(args: argparse.Namespace) -> list[Row]:
    """Training notes per second of ``experiment=lakh``'s note (``NOTE_FIELDS_NOW``) against
    the four-field note at equal size, chained heads, five Lakh tracks."""
    lakh = LAKH.is_dir()
    tracks = ("Drums", "Piano", "Guitar", "Bass", "Strings") if lakh else ("Piano",)
    batches = real_batches(
        args.steps + args.warmup, args.batch_size, args.seq_len, args.data_dir, lakh
    )
    times: dict[str, list[float]] = {"now": [], "before": []}
    for _ in range(args.repeats):  # alternating, so that both see the same machine
        for name, extra in (("now", NOTE_FIELDS_NOW), ("before", ())):
            task = make_task("lstm_gru", "all", "chained", tracks, tuple(extra))
            times[name].append(plain_loop(task, batches, args.warmup)[0])
    now, before = Timing(tuple(times["now"])), Timing(tuple(times["before"]))
    notes = args.batch_size * args.seq_len
    print(
        f"note fields: {' '.join(NOTE_FIELDS_NOW)} {notes / now.best:,.0f} notes/s, four "
        f"fields {notes / before.best:,.0f} notes/s, ratio {before.best / now.best:.2f}x"
    )
    return [
        Row(
            "train",
            f"lstm_gru at {BUDGET:,} params, chained heads: training notes per second",
            "notes/s",
            notes / now.best,
            " ".join(NOTE_FIELDS_NOW),
            notes / before.best,
            "four fields (no velocity, no sounding keys)",
            higher_is_better=True,
            target=">= 0.85x",
            note=f"spreads {now.spread:.0%}/{before.spread:.0%}",
        )
    ]


def plain_loop(task: NextNoteTask, batches: list[dict], warmup: int) -> tuple[float, list[float]]:
    """Seconds per step of the same training step written as a bare PyTorch loop, and the
    loss of every step (so that a test can check it is the task's own objective)."""
    net, target = task.net, task.target
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    losses = []
    for i, batch in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        # the task's own objective (models.objective): its heads, weights and pressure
        loss = batch_losses(net, batch, target, task.weights, task.pressure)[0]["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return (time.perf_counter() - start) / (len(batches) - warmup), losses


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
    plain_best: dict[str, float] = {}  # each backbone's plain-loop step, for the ratio rows
    for model in args.models:
        plain, bare, as_run, last = [], [], [], []
        for _ in range(args.repeats):
            task = make_task(model, "all")
            plain.append(plain_loop(task, batches, args.warmup)[0])
            bare.append(lightning_loop(make_task(model, "all"), batches, args.warmup, False))
            as_run.append(lightning_loop(make_task(model, "all"), batches, args.warmup, True))
            last.append(plain_loop(make_task(model, "last"), batches, args.warmup)[0])
        # the one timing rule (bench.timing): the best of the repeats, its spread shown
        p, lb, lr, pl = (Timing(tuple(x)) for x in (plain, bare, as_run, last))
        plain_best[model] = p.best
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
    return rows + backbone_rows(plain_best, b * t) + heads_rows(args) + note_rows(args)


def backbone_rows(plain_best: dict[str, float], notes: int, baseline: str = "lstm") -> list[Row]:
    """Each backbone's training notes per second against the LSTM's, at equal parameters:
    the paper's claim that a GRU trains faster than an LSTM, measured in this run."""
    if baseline not in plain_best:
        return []
    return [
        Row(
            "train",
            f"training notes per second at equal parameters, batch {notes} notes: {model} vs "
            f"{baseline}",
            "notes/s",
            notes / best,
            f"model={model}",
            notes / plain_best[baseline],
            f"model={baseline}",
            higher_is_better=True,
        )
        for model, best in plain_best.items()
        if model != baseline
    ]


def heads_rows(args: argparse.Namespace) -> list[Row]:
    """Chained heads against independent ones: training notes per second at equal size."""
    lakh = LAKH.is_dir()
    tracks = ("Drums", "Piano", "Guitar", "Bass", "Strings") if lakh else ("Piano",)
    batches = real_batches(
        args.steps + args.warmup, args.batch_size, args.seq_len, args.data_dir, lakh
    )
    model = "lstm_gru"
    times: dict[str, list[float]] = {"independent": [], "chained": []}
    for _ in range(args.repeats):  # alternating, so that both see the same machine
        for heads in times:
            times[heads].append(
                plain_loop(make_task(model, "all", heads, tracks), batches, args.warmup)[0]
            )
    ind, ch = Timing(tuple(times["independent"])), Timing(tuple(times["chained"]))
    notes = args.batch_size * args.seq_len
    data = "five Lakh tracks" if lakh else "Bach, one track"
    print(
        f"heads ({model}, {data}): chained {notes / ch.best:,.0f} notes/s, independent "
        f"{notes / ind.best:,.0f} notes/s, ratio {ind.best / ch.best:.2f}x"
    )
    return [
        Row(
            "train",
            f"{model} at {BUDGET:,} params, {data}: training notes per second by heads",
            "notes/s",
            notes / ch.best,
            "task.heads=chained",
            notes / ind.best,
            "task.heads=independent",
            higher_is_better=True,
            target=">= 0.85x",
            note=f"spreads {ch.spread:.0%}/{ind.spread:.0%}",
        )
    ]


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
