"""Train one next-note model and test its best checkpoint: ``python -m musegen.train``.

``train(cfg)`` wires the configured objects together and runs them; everything it calls lives
where its concern does (``instantiate``, ``models.checkpoint``, ``run_record``, the callbacks
of ``conf/callbacks`` and the evaluation of ``cfg.evaluate``). Tests and notebooks call it with
``compose_config(...)``. The run folder (``paths.output_dir``) ends up holding
``metrics.json``, ``checkpoints/``, ``csv/metrics.csv``, ``evaluation/`` and ``.hydra/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

import musegen.resolvers  # noqa: F401  (${uid:} in run folder names)
from musegen import instantiate as build
from musegen.atomic import clean_stale
from musegen.config_checks import CONFIG_DIR, check_config, check_overrides, compose_checked
from musegen.errors import reported
from musegen.models.checkpoint import check_compatible, tested_checkpoint
from musegen.run_record import RunRecord, finish_wandb, log_hyperparameters


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Fit ``cfg``'s model, test the best checkpoint, write ``metrics.json``; return it.

    ``extra_callbacks`` are added to the configured ones (tests use them to kill a run).
    Raises a ``UserError`` (one line) for the user's mistakes.
    """
    check_config(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(output_dir, recursive=True)  # a killed run's, when resuming in place

    datamodule = build.instantiate(cfg.data, "data")
    task = build.task(cfg, datamodule.track_names, datamodule.seq_len)
    if cfg.get("ckpt_path"):
        check_compatible(cfg.ckpt_path, task.net.config)
    loggers = build.instantiate_all(cfg.get("logger"), "logger")
    callbacks = [*build.callbacks(cfg), *(extra_callbacks or [])]
    trainer = build.instantiate(
        cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False
    )
    record = RunRecord(cfg, task, output_dir)
    log_hyperparameters(loggers, cfg, task)
    try:
        if cfg.get("train"):
            trainer.fit(task, datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
        if cfg.get("test"):
            ckpt = tested_checkpoint(trainer, bool(cfg.get("train")), cfg.get("ckpt_path"))
            # val/* in metrics.json describe the same weights as test/*
            record.add(trainer.validate(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.add(trainer.test(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.metrics["best_ckpt"] = ckpt
    finally:
        finish_wandb()
    return record.write(trainer)


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
    with reported():
        metrics = train(cfg)
    # The value an Optuna sweep minimises (hparams_search=optuna).
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


def main() -> None:
    """Entry point: catch bad overrides before Hydra's multi-line report."""
    with reported():
        check_overrides(sys.argv[1:], CONFIG_DIR, "train")
        _hydra_main()


if __name__ == "__main__":
    main()
