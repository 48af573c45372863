"""A run killed mid-way and resumed from last.ckpt ends with the same weights as one never
interrupted (dropout on, shuffled batches)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from musegen.train import compose_config
from musegen.training import train
from tests.conftest import small


class Killed(RuntimeError):
    pass


class KillAtEpoch(L.Callback):
    """Stand-in for a killed process: fail as the given epoch starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise Killed(f"killed at epoch {self.epoch}")


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize(
    ("workers", "model"),
    [
        (0, ["model.net.lstm_layers=2"]),
        (2, ["model.net.lstm_layers=2"]),
        (0, ["model=transformer", "task.heads=chained"]),
    ],
    ids=["lstm_gru", "lstm_gru-workers", "transformer-chained"],
)
def test_resume_matches_uninterrupted_run(
    session_data_dir: Path, tmp_path: Path, workers: int, model: list[str]
) -> None:
    """Also with DataLoader workers, which take their batches' indices before Lightning's
    epoch hooks: the datamodule sets the resumed epoch's order when it makes the loader; and
    for the Transformer with chained heads."""
    base = small(
        session_data_dir,
        *model,
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=5",
        "model.net.dropout=0.3",
        "evaluate.enabled=false",
        "seed=7",
    )
    base = [a.replace("data.num_workers=0", f"data.num_workers={workers}") for a in base]
    full, killed, resumed = tmp_path / "full", tmp_path / "killed", tmp_path / "resumed"
    train(compose_config(base, output_dir=str(full)))
    with pytest.raises(Killed):
        train(compose_config(base, output_dir=str(killed)), extra_callbacks=[KillAtEpoch(2)])
    last = killed / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1
    train(compose_config([*base, f"ckpt_path={last}"], output_dir=str(resumed)))

    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the weights did move in the third epoch (the comparison is not vacuous)
    before = torch.load(last, weights_only=True)["state_dict"]
    assert any(not torch.equal(before[k], a[k]) for k in a)
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["global_step"] == 15 and metrics["epochs"] == 3


def test_a_stop_mid_epoch_resumes_exactly_with_transposed_windows(
    session_data_dir: Path, tmp_path: Path
) -> None:
    """``data.transpose`` draws a key for each training window: from the run's seed, the
    epoch and the window (``data.windows``), never from a generator a checkpoint does not
    hold, so a run stopped mid-epoch (SIGTERM after step 4 of 6) and resumed from
    ``interrupted.ckpt`` ends bit-identical to one never stopped; as ``experiment=lakh``
    trains: every position a target, a cosine learning rate over ``max_steps``."""
    from musegen.errors import Terminated
    from tests.test_stops import SignalAt

    base = small(
        session_data_dir,
        "trainer.max_epochs=-1",
        "trainer.max_steps=12",
        "trainer.limit_train_batches=6",
        "data.transpose=5",
        "task.target=all",
        "task.scheduler={_target_: torch.optim.lr_scheduler.CosineAnnealingLR, "
        "_partial_: true, T_max: null}",
        "model.net.dropout=0.3",
        "evaluate.enabled=false",
        "test=false",
        "seed=3",
    )
    full, stopped, resumed = tmp_path / "full", tmp_path / "stopped", tmp_path / "resumed"
    train(compose_config(base, output_dir=str(full)))
    with pytest.raises(Terminated, match="at step 4; resume with ckpt_path="):
        train(compose_config(base, output_dir=str(stopped)), extra_callbacks=[SignalAt(4)])
    saved = stopped / "checkpoints" / "interrupted.ckpt"
    metrics = train(compose_config([*base, f"ckpt_path={saved}"], output_dir=str(resumed)))
    assert metrics["global_step"] == 12
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


FORMAT2 = (
    Path(__file__).parent / "fixtures" / "checkpoints" / "format2_categorical_gru_5tracks.ckpt"
)
FORMAT2_SETTINGS = [  # how it was trained (fixtures/checkpoints/README.md), heads of its time
    "model=gru",
    "model.net.hidden_size=8",
    "task.encoder.pitch_dim=8",
    "task.encoder.position_dim=4",
    "task.time_classes.exact_beats=2",
    "task.time_classes.coarse_beats=2",
    "task.time_classes.max_beats=8",
    "task.heads=independent",
    "seed=1",
]


def _resume_check(tmp_path: Path, *extra: str) -> None:
    """What ``train`` checks before resuming the format-2 fixture, on the real config."""
    from musegen import instantiate as build
    from musegen.data.tracks import LPD5_TRACKS
    from musegen.training import check_resumable

    cfg = compose_config([*FORMAT2_SETTINGS, *extra], output_dir=str(tmp_path))
    task = build.task(cfg, list(LPD5_TRACKS), cfg.data.seq_len)
    check_resumable(str(FORMAT2), task, cfg.task.target)


def test_an_old_checkpoint_resumes_with_the_settings_it_was_trained_with(tmp_path: Path) -> None:
    """The fixture predates ``task.encoder.key_dim``, and its independent heads ``task.
    head_width``: a setting a checkpoint lacks compares equal to its default (no key input),
    one it does not use is not compared."""
    _resume_check(tmp_path)


@pytest.mark.parametrize(
    ("override", "refusal"),
    [
        ("task.encoder.key_dim=16", "task.encoder.key_dim=0, this run has 16"),
        ("task.heads=chained", "task.heads.kind=independent, this run has chained"),
        ("task.target=all", "task.target=last, this run has all; resume with the same target"),
    ],
)
def test_resuming_with_a_setting_that_changes_training_is_one_line(
    tmp_path: Path, override: str, refusal: str
) -> None:
    """Another ``task.target`` changes what every step learns from: refused like another
    network (decided: neither run's result would come out; ``init_from=`` starts a new run
    from the weights)."""
    from musegen.models.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match=rf"^ckpt_path: .* was trained with {refusal}"):
        _resume_check(tmp_path, override)
