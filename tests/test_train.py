"""Training end to end on real music (a few Bach chorales): the run folder, every backbone
learning through the Lightning task, checkpoints, and the Hydra command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import pytest
import torch

from musegen import instantiate as build
from musegen.generation.sampling import Picker, Sampling
from musegen.models import CheckpointError, load_network
from musegen.models.objective import batch_losses, teacher_forcing
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import MODELS, small

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = [
    f"{stage}/{name}"
    for stage in ("val", "test")
    for name in (
        "loss",
        "pitch_loss",
        "step_loss",
        "duration_loss",
        "track_loss",
        "pitch_acc",
        "pitch_ppl",
    )
] + ["train/loss", "n_params", "train_time_s"]


@pytest.fixture(scope="module")
def trained_run(session_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(compose_config(small(session_data_dir, "trainer.max_epochs=2"), output_dir=str(out)))
    return out


def test_run_folder_holds_metrics_and_checkpoints(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    missing = [k for k in METRIC_KEYS if k not in metrics]
    assert not missing, missing
    assert metrics["model"] == "lstm_gru" and metrics["n_params"] > 0
    assert metrics["test/pitch_ppl"] == pytest.approx(
        2.718281828 ** metrics["test/pitch_loss"], rel=1e-4
    )
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    best = trained_run / metrics["best_ckpt"]  # relative: the record names no machine's folder
    assert not Path(metrics["best_ckpt"]).is_absolute()
    assert best.is_file() and best.parent == trained_run / "checkpoints"
    header = (trained_run / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"val/loss", "train/loss", "test/pitch_loss"} <= set(header)


def test_best_checkpoint_rebuilds_the_network_without_hydra(trained_run: Path) -> None:
    best = json.loads((trained_run / "metrics.json").read_text())["best_ckpt"]
    net = load_network(trained_run / best)
    assert net.config.net["_target_"].endswith("LSTMGRUBackbone")
    note = {
        "pitch": torch.tensor([60]),
        "step": torch.tensor([0.0]),
        "duration": torch.tensor([1.0]),
        "track": torch.tensor([0]),
    }
    with pytest.raises(ValueError, match="onsets"):  # the bar-position input needs them
        net.step(note)
    h, state = net.step({**note, "time": torch.tensor([0])})
    target = {k: v for k, v in note.items() if k != "time"}  # chained heads read them
    assert net.heads(h, target)["pitch"].shape == (1, 128) and state is not None
    # docs/training.md, "Using a trained model without Hydra"
    pick = Picker(Sampling(), torch.Generator().manual_seed(0), net.config.track_names)
    nxt = net.heads.draw(h, pick)
    assert set(nxt) >= {"pitch", "step", "duration", "track"} and nxt["pitch"].shape == (1,)
    nxt["time"] = torch.round(nxt["step"] * 24).long()
    h2, _ = net.step(nxt, state)
    assert h2.shape == h.shape and not torch.equal(h2, h)


def test_another_models_checkpoint_is_refused(
    trained_run: Path, session_data_dir: Path, tmp_path: Path
) -> None:
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    cfg = compose_config(
        small(session_data_dir, "model=gru", f"ckpt_path={ckpt}"), output_dir=str(tmp_path)
    )
    with pytest.raises(CheckpointError, match="holds model"):
        train(cfg)


@pytest.mark.parametrize("model", MODELS)
def test_each_model_learns_through_the_task(
    model: str, session_data_dir: Path, tmp_path: Path
) -> None:
    """150 batches of real chorales through NextNoteTask lower the loss on a held batch below
    what the note frequencies alone give."""
    cfg = compose_config(
        small(
            session_data_dir,
            f"model={model}",
            "model.net.hidden_size=48",
            "task.target=all",  # a prediction at every position: more to learn from a step
            "task.optimizer.lr=3e-3",  # a few steps only: faster than the paper's 1e-3
            # heads that read nothing of the note itself: only the backbone's history can
            # beat the field frequencies (chained heads beat them from the note's own
            # earlier fields, with the backbone's output zeroed)
            "task.heads=independent",
        ),
        output_dir=str(tmp_path),
    )
    L.seed_everything(0)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    task = build.task(cfg, dm.track_names)
    dm.prepare_data()
    dm.setup("fit")
    held = next(iter(dm.val_dataloader()))

    def held_loss() -> float:
        task.eval()
        with torch.no_grad():
            return batch_losses(task.net, held, "all", task.weights, task.pressure)[0][
                "loss"
            ].item()

    before = held_loss()
    task.train()  # Lightning keeps the mode it is given
    trainer = L.Trainer(
        max_steps=150,  # ~100 reach the frequencies' loss (measured: gru, seed 0)
        limit_val_batches=0,
        logger=False,
        accelerator="cpu",
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=dm)
    after = held_loss()
    assert after < 0.8 * before, (before, after)
    # the note frequencies alone would pass the line above: the network must beat them
    assert after < frequency_loss(dm, held, task.net.tables), after


def frequency_loss(dm: Any, held: dict[str, torch.Tensor], tables: Any) -> float:
    """The held batch's loss for a predictor that knows only each field's frequencies in the
    training windows (add-one smoothed): the summed cross-entropies, by counting alone."""
    counts: dict[str, torch.Tensor] = {}
    for i, batch in enumerate(dm.train_dataloader()):
        if i == 50:
            break
        for field, classes in _classes(batch, tables).items():
            size = 128 if field == "pitch" else tables.size(field)
            counts[field] = counts.get(field, 1) + torch.bincount(classes, minlength=size)
    held_classes = _classes(held, tables)
    return sum(-(counts[f] / counts[f].sum()).log()[held_classes[f]].mean().item() for f in counts)


def _classes(batch: dict[str, torch.Tensor], tables: Any) -> dict[str, torch.Tensor]:
    """The next-note targets of a batch's scored positions, as class indices."""
    _, targets = teacher_forcing(batch)
    keep = batch.get("score", torch.ones_like(targets["pitch"], dtype=torch.bool))
    return {
        f: (tables.encode(f, targets[f]) if f in ("step", "duration") else targets[f])[keep]
        for f in ("pitch", "step", "duration")
    }


@pytest.mark.slow  # ~20 s on 2 cores: a two-job CLI multirun (the compare test is one too)
def test_cli_run_and_multirun_folders(session_data_dir: Path, tmp_path: Path) -> None:
    """``-m model=rnn,gru`` runs one job per model, each with its own complete run folder."""
    args = [a for a in small(session_data_dir) if not a.startswith("model.net")]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "musegen.train",
            "-m",
            "model=rnn,gru",
            "model.net.hidden_size=16",
            f"paths.log_dir={tmp_path}",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "train" / "multiruns").glob("*/*") if p.is_dir())
    assert len(jobs) == 2, jobs
    names = set()
    for job in jobs:
        assert (job / ".hydra" / "config.yaml").is_file()
        assert (job / "checkpoints" / "last.ckpt").is_file()
        names.add(json.loads((job / "metrics.json").read_text())["model"])
    assert names == {"rnn", "gru"}


def test_corrupt_checkpoint_is_one_clear_error(session_data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(b"PK\x03\x04 half a zip file")
    cfg = compose_config(small(session_data_dir, f"ckpt_path={bad}"), output_dir=str(tmp_path))
    with pytest.raises(CheckpointError, match="corrupt or truncated") as info:
        train(cfg)
    assert "\n" not in str(info.value)


def test_a_cosine_schedule_over_the_whole_run(session_data_dir: Path, tmp_path: Path) -> None:
    """``T_max: null`` spans the whole run: the rate falls from 1e-3 to about 0 at its end."""
    schedule = (
        "task.scheduler={_target_: torch.optim.lr_scheduler.CosineAnnealingLR,"
        " _partial_: true, T_max: null}"
    )
    cfg = compose_config(
        small(session_data_dir, schedule, "trainer.max_epochs=2", "evaluate.enabled=false"),
        output_dir=str(tmp_path),
    )
    train(cfg)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    (scheduler,) = state["lr_schedulers"]
    assert scheduler["T_max"] == 8 and scheduler["last_epoch"] == 8
    assert scheduler["_last_lr"][0] < 1e-9


def test_a_run_without_test_songs_says_it_has_no_test_figures(
    session_data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from musegen.training import NO_TEST_SONGS

    cfg = compose_config(
        small(session_data_dir, "data.split=[0.8,0.2,0.0]", "evaluate.enabled=false"),
        output_dir=str(tmp_path),
    )
    with caplog.at_level("WARNING", logger="musegen.training"):
        metrics = train(cfg)
    assert metrics["status"] == "finished" and metrics["warning"] == NO_TEST_SONGS
    assert not any(key.startswith("test/") for key in metrics)
    assert NO_TEST_SONGS in caplog.text
