"""``-m hparams_search=optuna``: Hydra's Optuna sweeper really runs trials of ``train()``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli, small


def _has_optuna() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.slow  # ~10 s on 2 cores: two optuna trials through the CLI
@pytest.mark.skipif(not _has_optuna(), reason="hydra-optuna-sweeper is not installed (dev extra)")
def test_optuna_search_runs_two_trials(session_data_dir: Path, tmp_path: Path) -> None:
    """Two trials on a tiny budget: each trains and returns its val/loss to Optuna, which
    writes the best parameters; the searched values reach the trials' configs."""
    sweep = tmp_path / "search"
    done = run_cli(
        "musegen.train",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweep.dir={sweep}",
        *small(session_data_dir, "evaluate.enabled=false"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["name"] == "optuna" and best["best_value"] > 0
    # searched: lr, layers, dropout, batch (small() fixes the hidden size on the command
    # line, which takes it out of the search)
    assert {"task.optimizer.lr", "model.net.lstm_layers", "model.net.dropout"} <= set(
        best["best_params"]
    )
    trials = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(trials) == 2
    for trial in trials:
        overrides = yaml.safe_load((trial / ".hydra" / "overrides.yaml").read_text())
        assert any(o.startswith("task.optimizer.lr=") for o in overrides)
        assert (trial / "metrics.json").is_file()
