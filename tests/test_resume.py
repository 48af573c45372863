"""A run killed mid-way and resumed from last.ckpt ends with the same weights as one never
interrupted (dropout on, shuffled batches)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from musegen.train import compose_config, train
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
