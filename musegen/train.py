"""Train one next-note model and test its best checkpoint: ``python -m musegen.train``.

``train(cfg)`` wires the configured objects together and runs them; everything it calls lives
where its concern does (``instantiate``, ``models.checkpoint``, ``run_record``, the callbacks
of ``conf/callbacks`` and the evaluation of ``cfg.evaluate``). Tests and notebooks call it with
``compose_config(...)``. The run folder (``paths.output_dir``) ends up holding
``metrics.json``, ``checkpoints/``, ``csv/metrics.csv``, ``evaluation/`` and ``.hydra/``.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

import musegen.resolvers  # noqa: F401  (${uid:} in run folder names)
from musegen import instantiate as build
from musegen import sweeps
from musegen.atomic import FolderInUse, clean_stale, folder_in_use, run_folder
from musegen.callbacks import SaveOnSigterm
from musegen.config_checks import (
    CONFIG_DIR,
    ConfigError,
    check_config,
    check_overrides,
    compose_checked,
)
from musegen.errors import Terminated, UserError, first_line, reported
from musegen.models.checkpoint import check_compatible, tested_checkpoint
from musegen.models.task import NonFiniteLoss
from musegen.run_record import RunRecord, finish_wandb, log_hyperparameters


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Fit ``cfg``'s model, test the best checkpoint, write ``metrics.json``; return it.

    ``extra_callbacks`` are added to the configured ones (tests use them to kill a run).
    Raises a ``UserError`` (one line) for the user's mistakes, ``NonFiniteLoss`` when
    training diverges and ``Terminated`` on SIGTERM, after writing ``metrics.json`` with the
    run's ``status``.
    """
    check_config(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    # one live run a folder; the other processes of a multi-process run share it
    with nullcontext() if launched_worker() else run_folder(output_dir):
        clean_stale(output_dir, recursive=True)  # a killed run's, when resuming in place
        datamodule = build.instantiate(cfg.data, "data")
        start = initial_network(cfg.get("init_from"))
        task = build.task(
            cfg,
            datamodule.track_names,
            datamodule.seq_len,
            datamodule.velocity_counts,
            velocity=start.config.velocity if start is not None else None,
        )
        if cfg.get("ckpt_path"):
            check_compatible(cfg.ckpt_path, task.net.config)
        if start is not None:  # fine-tuning: a new run from trained weights
            check_compatible(cfg.init_from, task.net.config, key="init_from", stored=start.config)
            task.net.load_state_dict(start.state_dict())
        loggers = build.instantiate_all(cfg.get("logger"), "logger")
        callbacks = [*build.callbacks(cfg), *(extra_callbacks or [])]
        trainer = build.instantiate(
            cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False
        )
        record = RunRecord(cfg, task, output_dir)
        log_hyperparameters(loggers, cfg, task)
        try:
            return _fit_and_test(cfg, trainer, task, datamodule, record)
        finally:
            finish_wandb()


def _fit_and_test(
    cfg: DictConfig, trainer: L.Trainer, task: Any, datamodule: Any, record: RunRecord
) -> dict[str, Any]:
    """The run itself; a run that stops early still writes its ``metrics.json``."""
    try:
        if cfg.get("train"):
            fit(trainer, task, datamodule, cfg.get("ckpt_path"))
        if cfg.get("test"):
            ckpt = tested_checkpoint(trainer, bool(cfg.get("train")), cfg.get("ckpt_path"))
            # val/* in metrics.json describe the same weights as test/*
            record.add(trainer.validate(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.add(trainer.test(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.metrics["best_ckpt"] = _in_run(ckpt, Path(cfg.paths.output_dir))
    except SIGTERMException:
        saved = next((c.saved for c in trainer.callbacks if isinstance(c, SaveOnSigterm)), None)
        record.metrics.update(status="interrupted", resume_from=str(saved) if saved else None)
        record.write(trainer)
        where = f"resume with ckpt_path={saved}" if saved else "training had finished"
        raise Terminated(f"stopped by SIGTERM at step {trainer.global_step}; {where}") from None
    except NonFiniteLoss as err:
        record.metrics.update(status="failed", error=str(err))
        record.write(trainer)
        raise
    record.metrics["status"] = "finished"
    return record.write(trainer)


def initial_network(init_from: str | None) -> Any:
    """The trained network a fine-tuning run starts from (``init_from=``: a checkpoint, or
    ``pretrained:<name>``), or None."""
    if not init_from:
        return None
    from musegen.models.checkpoint import load_network
    from musegen.pretrained import resolve

    return load_network(resolve(init_from, "init_from"))


def _in_run(path: str | None, run_dir: Path) -> str | None:
    """A checkpoint's path relative to the run folder when it lies inside it: records that
    are kept (``metrics.json``) name no folder of the machine that wrote them."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def fit(trainer: L.Trainer, task: Any, datamodule: Any, ckpt_path: str | None) -> None:
    """``trainer.fit``, with Lightning's check of ``trainer.val_check_interval`` against the
    epoch (made once the data is built) and an optimizer step that overflows in one line
    instead of a traceback."""
    try:
        trainer.fit(task, datamodule, ckpt_path=ckpt_path, weights_only=True)
    except UserError:
        raise
    except ValueError as err:
        if "val_check_interval" in str(err):
            raise ConfigError(f"trainer.val_check_interval: {first_line(err)}") from None
        raise
    except RuntimeError as err:  # Adam's step overflowing float32 (a learning rate ~1e38)
        if "overflow" in str(err):
            raise NonFiniteLoss("the optimizer's update", math.inf, trainer.global_step) from None
        raise


def compose_config(
    overrides: list[str] | tuple[str, ...] = (), output_dir: str | None = None
) -> DictConfig:
    """The config ``python -m musegen.train <overrides>`` would run, for tests and notebooks.

    Outside a Hydra run there is no ``hydra:runtime.output_dir``: ``output_dir`` stands in
    for it (``paths.output_dir``).
    """
    from hydra.core.hydra_config import HydraConfig

    check_overrides(overrides, CONFIG_DIR, config_name=None)
    cfg = compose_checked("train", list(overrides), CONFIG_DIR, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
    return cfg


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    key = cfg.get("optimized_metric", "val/loss")  # what an Optuna sweep minimises
    if sweeps.in_multirun():  # a failed job is recorded and the sweep goes on (musegen.sweeps)
        return sweeps.run_job(
            lambda: train(cfg).get(key), cfg.paths.output_dir, failed_value=float("nan")
        )
    with reported():
        metrics = train(cfg)
    return metrics.get(key)


def main() -> None:
    """Entry point: catch bad overrides before Hydra's multi-line report; a sweep with failed
    jobs ends with exit code 1 and one line naming them."""
    with reported():
        check_overrides(sys.argv[1:], CONFIG_DIR, "train")
        check_run_dir(sys.argv[1:])
        _hydra_main()
    if sweeps.failed_jobs:
        print(
            f"error: {len(sweeps.failed_jobs)} sweep job(s) failed: {sweeps.summary()}; "
            "each job's reason is in its folder's failed.json",
            file=sys.stderr,
        )
        sys.exit(sweeps.EXIT_SOME_FAILED)


def check_run_dir(args: list[str]) -> None:
    """``hydra.run.dir=<folder>`` of a live run: one line, before Hydra writes into it."""
    given = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if given and not launched_worker() and folder_in_use(given[-1]):
        raise FolderInUse.at(given[-1])


def launched_worker() -> bool:
    """Whether this process is one that DDP or SLURM started beside the run's first
    (Lightning re-runs the command with ``LOCAL_RANK``; srun starts a task per rank): it
    writes into the folder that the first process locked."""
    ranks = ("LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_LOCALID")
    return any(os.environ.get(name, "0") not in ("", "0") for name in ranks)


if __name__ == "__main__":
    main()
