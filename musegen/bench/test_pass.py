"""The test pass: the song pass against the tutorial's window pass, on the same test songs.

``python -m musegen.bench.test_pass [--ckpt PATH]``. The tutorial's pass (``data.test_pass=
window``) runs the network over every window of ``seq_len`` notes to score the one note
after it; the song pass (``song``, the default) scores every note once in windows that
follow each other. Both run through ``Trainer.test`` on the same checkpoint and test songs
(the 150 Lakh files of ``../shared/data`` as in ``experiment=lakh``, else the Bach
chorales): the time of each, and the test losses each reports, which differ because the
passes score different notes from different contexts (docs/evaluation.md, "The test pass").

Without ``--ckpt`` a model is trained for ``--steps`` steps first (``experiment=lakh``'s
settings), so that the losses are those of a model that has learned something.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from musegen.bench.report import Row

LAKH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lmd_midi"


def _overrides(data_dir: str | None) -> list[str]:
    base = ["experiment=lakh"] if LAKH.is_dir() else []
    base += ["logger=csv", "trainer.enable_progress_bar=false", "data.progress=false"]
    return base + ([f"paths.data_dir={data_dir}"] if data_dir else [])


def trained_checkpoint(steps: int, data_dir: str | None, folder: Path) -> Path:
    """Train ``steps`` steps with the benchmark's data and settings; the last checkpoint."""
    from musegen.train import compose_config
    from musegen.training import train

    cfg = compose_config(
        [
            *_overrides(data_dir),
            f"trainer.max_steps={steps}",
            "trainer.max_epochs=-1",
            f"trainer.val_check_interval={steps}",
            "trainer.check_val_every_n_epoch=null",
            "test=false",
            "evaluate.enabled=false",
        ],
        output_dir=str(folder),
    )
    train(cfg)
    return folder / "checkpoints" / "last.ckpt"


def timed_test(ckpt: Path, test_pass: str, data_dir: str | None) -> tuple[float, dict, int]:
    """Seconds of ``Trainer.test`` with ``test_pass``, its metrics and its scored notes."""
    import lightning as L
    from hydra.utils import instantiate

    from musegen.models.task import load_task
    from musegen.train import compose_config

    cfg = compose_config([*_overrides(data_dir), f"data.test_pass={test_pass}"], "/tmp")
    dm = instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    task = load_task(ckpt)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    start = time.perf_counter()
    metrics = trainer.test(task, datamodule=dm, verbose=False)[0]
    seconds = time.perf_counter() - start
    windows = dm.windows["test"]
    scored = windows.scored_notes() if test_pass == "song" else len(windows)
    return seconds, metrics, scored


def run(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.test_pass", description=__doc__)
    parser.add_argument("--ckpt", type=Path, default=None, help="a checkpoint to test")
    parser.add_argument("--steps", type=int, default=300, help="training steps without --ckpt")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="musegen-bench-") as tmp:
        ckpt = args.ckpt or trained_checkpoint(args.steps, args.data_dir, Path(tmp))
        window = timed_test(ckpt, "window", args.data_dir)
        song = timed_test(ckpt, "song", args.data_dir)
    data = "150 Lakh files (experiment=lakh)" if LAKH.is_dir() else "Bach chorales"
    differ = ", ".join(
        f"{k.removeprefix('test/')} {window[1][k]:.3f} vs {song[1][k]:.3f}"
        for k in ("test/note_nll", "test/pitch_loss", "test/step_loss", "test/track_loss")
        if k in window[1] and k in song[1]
    )
    print(
        f"test pass on the {data}: window (tutorial's) {window[0]:.1f} s for {window[2]:,} "
        f"scored notes; song {song[0]:.1f} s for {song[2]:,}; ratio {window[0] / song[0]:.1f}x"
    )
    print(f"  losses, window vs song pass: {differ}")
    return [
        Row(
            "test_pass",
            f"the test pass over the test songs of the {data}",
            "s",
            song[0],
            f"song pass: every note once ({song[2]:,} notes)",
            window[0],
            f"the tutorial's window pass ({window[2]:,} windows)",
            target=">= 10x",
            note=f"losses, window vs song: {differ}",
        )
    ]


def main(argv: list[str] | None = None) -> None:
    run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
