"""``metrics.json``: the one machine-readable record of a run, written when it ends.

Flat keys, so that a sweep report reads every run alike: what was trained (``model``,
``n_params``, ``hidden_size``, ``target``, ``timing``, ``seed``, ``overrides``, the
``sweep_id`` it belongs to, the ``commit`` and ``machine`` it ran on), the val/test metrics of
the tested (best) weights (``val/loss``, ``test/pitch_loss``, ...), what training cost
(``epochs``, ``global_step``, ``train_time_s``, ``train_notes_per_s``, ``wall_time_s``), and
what the task and the callbacks add through a ``run_metrics()`` method (the evaluation's
``eval/sim_*`` and musical metrics, the timing classes' coverage of the training notes ``data/*``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from musegen.atomic import write_json_atomic
from musegen.resolvers import sweep_group

log = logging.getLogger(__name__)


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are numbers (tensors included), as floats."""
    out = {}
    for key, value in values.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def run_overrides(cfg: DictConfig) -> list[str]:
    """The command-line overrides of this run (a sweep job's own), when Hydra ran it."""
    node = OmegaConf.select(cfg, "hydra.overrides.task", default=None)
    if node is None:
        from hydra.core.hydra_config import HydraConfig

        try:
            node = HydraConfig.get().overrides.task
        except ValueError:  # not inside a Hydra run
            return []
    return [str(o) for o in node]


def _git(*args: str) -> str:
    """``git -C <musegen's checkout> <args>``'s output (raises when git or the checkout is
    missing)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def provenance() -> dict[str, str]:
    """Which code ran where: the git commit of musegen's checkout (``+dirty`` with
    uncommitted changes; ``unknown`` outside a checkout) and the machine in words."""
    import os
    import platform
    import subprocess

    import torch

    try:
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        commit = _git("rev-parse", "--short=12", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {gpu}, "
        f"torch {torch.__version__}"
    )
    return {"commit": commit, "machine": machine}


class RunRecord:
    """Collects a run's metrics and writes ``<output_dir>/metrics.json`` atomically."""

    def __init__(self, cfg: DictConfig, task: Any, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self.started = time.perf_counter()
        net = task.net.config.net
        self.metrics: dict[str, Any] = {
            "model": cfg.model.get("name"),
            "n_params": task.num_parameters(),
            "hidden_size": net.get("hidden_size"),
            "target": task.target,
            "timing": task.timing,
            "seed": cfg.get("seed"),
            "overrides": run_overrides(cfg),
            "sweep_id": sweep_group(),
            **provenance(),
        }

    def add(self, results: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        """Add the scalars of a ``Trainer.validate``/``test`` result (a list of dicts)."""
        for values in [results] if isinstance(results, Mapping) else results:
            self.metrics.update(scalars(values))

    def write(self, trainer: L.Trainer) -> dict[str, Any]:
        """Add what the trainer and its callbacks know, write metrics.json, return it."""
        self.metrics.update(
            epochs=trainer.current_epoch,
            global_step=trainer.global_step,
            wall_time_s=time.perf_counter() - self.started,
            output_dir=str(self.output_dir),
        )
        for part in [trainer.lightning_module, *trainer.callbacks]:
            if callable(getattr(part, "run_metrics", None)):
                self.metrics.update(part.run_metrics())
        if trainer.is_global_zero:  # under DDP every rank gets here; one writes
            write_json_atomic(
                self.output_dir / "metrics.json", self.metrics, indent=2, sort_keys=True
            )
            log.info("metrics: %s", self.output_dir / "metrics.json")
        return self.metrics


def log_hyperparameters(loggers: Sequence[Any], cfg: DictConfig, task: Any) -> None:
    """The resolved run config (without Hydra's own section) and the network's size."""
    run_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    hparams = OmegaConf.to_container(run_cfg, resolve=True)
    hparams["n_params"] = task.num_parameters()
    hparams["hidden_size"] = task.net.config.net.get("hidden_size")
    hparams["sweep_id"] = sweep_group()  # the sweep folder's name; None for a single run
    for logger in loggers:
        logger.log_hyperparams(hparams)
        if type(logger).__name__ == "WandbLogger":  # filterable on a dashboard
            run = logger.experiment
            run.tags = tuple(dict.fromkeys([*(run.tags or ()), *run_tags(cfg)]))


def run_tags(cfg: DictConfig) -> list[str]:
    """``model=...``, ``timing=...``, ``seed=...``: what tells a sweep's runs apart."""
    return [
        f"model={cfg.model.get('name')}",
        f"timing={OmegaConf.select(cfg, 'task.timing')}",
        f"seed={cfg.get('seed')}",
    ]


def finish_wandb() -> None:
    """Close the W&B run Lightning leaves open (the next job of a multirun would reuse it)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()
