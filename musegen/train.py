"""Train one next-note model and test its best checkpoint: ``python -m musegen.train``.

``train(cfg)`` is a plain function (tests call it with a composed config); ``main`` is the
thin Hydra entry point. The run folder (``paths.output_dir``) ends up holding
``metrics.json``, ``checkpoints/{best,last}.ckpt``, ``csv/metrics.csv`` and ``.hydra/``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf

import musegen.resolvers  # noqa: F401  (${uid:} in run folder names)
from musegen.atomic import clean_stale, write_bytes_atomic
from musegen.callbacks import ResumableRandomness
from musegen.config_checks import (
    CONFIG_DIR,
    ConfigError,
    check_config,
    check_overrides,
    compose_checked,
)
from musegen.errors import reported
from musegen.models.checkpoint import check_compatible
from musegen.models.task import NextNoteTask

log = logging.getLogger(__name__)


def _instantiate(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with plain containers, and a user's bad value (a
    ``ValueError``/``TypeError`` raised by the constructor) re-raised as one ``ConfigError``."""
    try:
        return hydra.utils.instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, ValueError | TypeError):
            msg = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
            if not msg.startswith(key):
                msg = f"{key}: {msg}"
            raise ConfigError(msg) from cause
        raise


def _instantiate_all(group: DictConfig | None, key: str) -> list[Any]:
    """Every ``_target_`` node of a group (callbacks, loggers); ``null`` entries are skipped."""
    objs = []
    for name, node in (group or {}).items():
        if isinstance(node, DictConfig) and "_target_" in node:
            objs.append(_instantiate(node, f"{key}.{name}"))
    return objs


def build_task(cfg: DictConfig, n_tracks: int, track_names: list[str]) -> NextNoteTask:
    """The LightningModule of ``cfg``: ``cfg.task`` around the backbone ``cfg.model.net``."""
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    net = OmegaConf.to_container(cfg.model.net, resolve=True)
    try:
        return NextNoteTask(net=net, n_tracks=n_tracks, track_names=track_names, **task_cfg)
    except (TypeError, ValueError) as exc:
        msg = str(exc).splitlines()[0]
        if not msg.startswith(("task", "model")):
            msg = f"task/model: {msg}"
        raise ConfigError(msg) from exc


def _finish_wandb() -> None:
    # Lightning leaves the W&B run open; the next run of a multirun would reuse it.
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


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


def evaluate_after_training(
    cfg: DictConfig,
    datamodule: Any,
    ckpt: Path,
    output_dir: Path,
    test_metrics: dict,
    loggers: list[Any],
    step: int,
) -> dict[str, float]:
    """Generate from ``ckpt`` and score it with ``musegen.evaluate``'s code; log the report.

    Writes ``<run>/evaluation/evaluation.{json,md}`` and samples; returns the similarity
    means (``eval/sim_<feature>/<row>``) for ``metrics.json``.
    """
    from musegen.evaluate import evaluate_run
    from musegen.generation.logging import log_report, report_scalars
    from musegen.generation.runs import load_run
    from musegen.generation.sampling import Sampling

    ev = cfg.evaluate
    run = load_run(ckpt)
    run.config = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    sampling = Sampling(float(ev.temperature), int(ev.top_k), float(ev.top_p))
    report = evaluate_run(
        run,
        datamodule,
        output_dir / "evaluation",
        int(ev.max_songs),
        int(ev.max_notes),
        sampling,
        int(ev.seed),
        {k: float(v) for k, v in test_metrics.items()},
        int(ev.num_samples),
        bool(ev.audio),
    )
    log_report(loggers, report, step)
    return {k: v for k, v in report_scalars(report).items() if k.startswith("eval/sim_")}


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Fit ``cfg``'s model, test the best checkpoint, write ``metrics.json``; return it.

    ``extra_callbacks`` are added to the configured ones (tests use it to kill a run).
    Raises ``ConfigError`` / ``CheckpointError`` (one line) for the user's mistakes.
    """
    check_config(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    clean_stale(output_dir, recursive=True)  # a killed run's, when resuming in place

    datamodule = _instantiate(cfg.data, "data")
    task = build_task(cfg, datamodule.n_tracks, list(datamodule.track_names))
    n_params = task.num_parameters()
    log.info(
        "model %s: %d parameters, target=%s, tracks=%s",
        cfg.model.get("name", "?"),
        n_params,
        task.target,
        datamodule.track_names,
    )
    if cfg.get("ckpt_path"):
        check_compatible(cfg.ckpt_path, task.net.config)

    callbacks = _instantiate_all(cfg.get("callbacks"), "callbacks") + list(extra_callbacks or [])
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it cannot show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if cfg.get("seed") is not None:
        callbacks.append(ResumableRandomness(cfg.seed))
    loggers = _instantiate_all(cfg.get("logger"), "logger")
    trainer: L.Trainer = _instantiate(
        cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False
    )
    run_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    hparams = OmegaConf.to_container(run_cfg, resolve=True)
    hparams["n_params"] = n_params
    hparams["hidden_size"] = task.net.config["net"].get("hidden_size")
    for lg in loggers:
        lg.log_hyperparams(hparams)

    metrics: dict[str, Any] = {
        "model": cfg.model.get("name"),
        "n_params": n_params,
        "hidden_size": hparams["hidden_size"],
        "target": task.target,
    }
    try:
        train_time = 0.0
        if cfg.get("train"):
            start = time.perf_counter()
            trainer.fit(
                task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True
            )
            train_time = time.perf_counter() - start
            metrics.update(_scalars(trainer.callback_metrics))
        metrics.update(
            train_time_s=train_time, epochs=trainer.current_epoch, global_step=trainer.global_step
        )
        if cfg.get("test"):
            ckpt = cfg.get("ckpt_path") if not cfg.get("train") else None
            best = getattr(trainer.checkpoint_callback, "best_model_path", "") or ""
            if cfg.get("train") and best:
                ckpt = best
                # val/* in metrics.json describe the same (best) weights as test/*.
                val = trainer.validate(
                    task, datamodule=datamodule, ckpt_path=ckpt, verbose=False, weights_only=True
                )
                metrics.update(_scalars(val[0] if val else {}))
            elif cfg.get("train"):
                log.warning("no checkpoint callback: testing the final weights")
            results = trainer.test(task, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
            if results:
                metrics.update(_scalars(results[0]))
            else:
                log.warning("the test split has no window: no test metrics")
            metrics["best_ckpt"] = str(ckpt) if ckpt else None
            if ckpt and (cfg.get("evaluate") or {}).get("enabled"):
                metrics.update(
                    evaluate_after_training(
                        cfg,
                        datamodule,
                        Path(ckpt),
                        output_dir,
                        results[0] if results else {},
                        loggers,
                        trainer.global_step,
                    )
                )
    finally:
        _finish_wandb()

    metrics["output_dir"] = str(output_dir)
    write_bytes_atomic(
        output_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True).encode()
    )
    log.info("metrics: %s", output_dir / "metrics.json")
    return metrics


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
