"""One training run: fit a next-note model and test its best checkpoint (what
``python -m musegen.train`` runs once it has checked the command).

``train(cfg)`` wires the configured objects together and runs them; everything it calls lives
where its concern does (``instantiate``, ``models.checkpoint``, ``run_record``, the callbacks
of ``conf/callbacks`` and the evaluation of ``cfg.evaluate``). Tests and notebooks call it on
``musegen.train.compose_config(...)``. The run folder (``paths.output_dir``) ends up holding
``metrics.json``, ``checkpoints/``, ``csv/metrics.csv``, ``evaluation/`` and ``.hydra/``.
"""

from __future__ import annotations

import inspect
import logging
import math
import signal
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

import musegen.resolvers  # noqa: F401  (${uid:} in run folder names)
from musegen import instantiate as build
from musegen.atomic import clean_stale, launched_worker, run_folder
from musegen.callbacks import INTERRUPTED, SaveOnStop
from musegen.config_checks import ConfigError, check_config
from musegen.errors import (
    Stopped,
    StopSignals,
    UserError,
    first_line,
    stop_kind,
    stop_signals,
)
from musegen.models.checkpoint import (
    CheckpointError,
    check_compatible,
    network_config,
    read_checkpoint,
    tested_checkpoint,
)
from musegen.models.config import NoteNetConfig
from musegen.models.task import NonFiniteLoss
from musegen.run_record import RunRecord, finish_wandb, log_hyperparameters


def train(cfg: DictConfig, extra_callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Fit ``cfg``'s model, test the best checkpoint, write ``metrics.json``; return it.

    ``extra_callbacks`` are added to the configured ones (tests use them to kill a run).
    Raises a ``UserError`` (one line) for the user's mistakes, ``NonFiniteLoss`` when
    training diverges and a ``Stopped`` on SIGTERM or SIGINT (the stop rule of
    ``musegen.errors``), after writing ``metrics.json`` with the run's ``status``.
    """
    check_config(cfg)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    # one live run a folder; the other processes of a multi-process run share it
    folder = nullcontext() if launched_worker() else run_folder(output_dir)
    with stop_signals() as stop, folder:
        clean_stale(output_dir, recursive=True)  # a killed run's, when resuming in place
        datamodule = build.instantiate(cfg.data, "data")
        start = initial_network(cfg.get("init_from"))
        task = build.task(
            cfg,
            datamodule.track_names,
            None if datamodule.stream else datamodule.seq_len,  # streams: the whole piece
            datamodule.velocity_counts,
            velocity=start.config.velocity if start is not None else None,
        )
        if cfg.get("ckpt_path"):
            check_resumable(cfg.ckpt_path, task, cfg.task.get("target", "last"))
        if start is not None:  # fine-tuning: a new run from trained weights
            check_same_network(cfg.init_from, task.net.config, "init_from", start.config)
            task.net.load_state_dict(start.state_dict())
        loggers = build.instantiate_all(cfg.get("logger"), "logger")
        callbacks = [*build.callbacks(cfg), *(extra_callbacks or [])]
        trainer = build.instantiate(
            cfg.trainer, "trainer", callbacks=callbacks, logger=loggers or False
        )
        for callback in trainer.callbacks:
            if isinstance(callback, SaveOnStop):  # it defers stops while training runs
                callback.signals = stop
        record = RunRecord(cfg, task, output_dir)
        log_hyperparameters(loggers, cfg, task)
        try:
            return _fit_and_test(cfg, trainer, task, datamodule, record, stop)
        finally:
            finish_wandb()


log = logging.getLogger(__name__)


NO_TEST_SONGS = (
    "no test songs in this data (data.split gives the test split none): the run has no test "
    "figures; give data.split a test share, or test the checkpoint with musegen.evaluate"
)
"""A run that finishes without test figures says so (a sweep's table would show blanks)."""


def _fit_and_test(
    cfg: DictConfig,
    trainer: L.Trainer,
    task: Any,
    datamodule: Any,
    record: RunRecord,
    stop: StopSignals,
) -> dict[str, Any]:
    """The run itself; a run that stops early still writes its ``metrics.json``, and one
    stopped by a signal the checkpoint to resume from (``SaveOnStop``)."""
    trained = False
    try:
        if cfg.get("train"):
            fit(trainer, task, datamodule, cfg.get("ckpt_path"))
            trained = True
            stop.raise_if_received()  # asked for as the last step ended
            drop_stop_point(trainer)
        if cfg.get("test"):
            ckpt = tested_checkpoint(trainer, bool(cfg.get("train")), cfg.get("ckpt_path"))
            # val/* in metrics.json describe the same weights as test/*
            record.add(trainer.validate(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.add(trainer.test(task, datamodule, ckpt_path=ckpt, weights_only=True))
            record.metrics["best_ckpt"] = _in_run(ckpt, Path(cfg.paths.output_dir))
            if not any(key.startswith("test/") for key in record.metrics):
                log.warning(NO_TEST_SONGS)
                record.metrics["warning"] = NO_TEST_SONGS
    except (SIGTERMException, Stopped):
        saved = next((c.saved for c in trainer.callbacks if isinstance(c, SaveOnStop)), None)
        record.metrics.update(status="interrupted", resume_from=str(saved) if saved else None)
        record.write(trainer)
        if saved:
            where = f"resume with ckpt_path={saved}"
        elif trained or not cfg.get("train"):
            where = "training had finished"
        elif cfg.get("ckpt_path"):
            where = f"no step trained; resume with ckpt_path={cfg.ckpt_path}"
        else:
            where = "no step trained"
        kind = stop_kind(stop.received or signal.SIGTERM)
        raise kind(f"{kind.by} at step {trainer.global_step}; {where}") from None
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


def check_resumable(path: str, task: Any, target: str) -> None:
    """Refuse in one line, before training, to resume (``ckpt_path``) a run of another
    network (``check_same_network``) or another ``task.target``, which changes what every
    step learns from: the result would be neither run. A new run from its weights is
    ``init_from=`` instead."""
    checkpoint = read_checkpoint(path)
    check_same_network(path, task.net.config, "ckpt_path", network_config(checkpoint, path))
    stored = (checkpoint.get("hyper_parameters") or {}).get("target", "last")
    if stored != target:
        raise CheckpointError(
            f"ckpt_path: {path} was trained with task.target={stored}, this run has {target}; "
            "resume with the same target, or start a new run from its weights with init_from="
        )


def check_same_network(path: str, expected: NoteNetConfig, key: str, stored: NoteNetConfig) -> None:
    """``check_compatible`` on the settings each network is built with: a setting that a
    checkpoint written before it existed does not hold compares equal to its default."""
    check_compatible(path, as_built(expected), key=key, stored=as_built(stored))


def as_built(config: NoteNetConfig) -> NoteNetConfig:
    """``config`` with every encoder and backbone argument its network is built with,
    defaults included, and none it does not use: ``NoteNet`` builds no key, sounding or
    texture input without ``key_dim``, ``sounding_dim`` or ``texture_dim`` (0), no input of
    the kept music ahead without ``ahead_dim``, no velocity input without velocity classes
    (``velocity_dim``), and independent heads have no width of their own
    (``task.head_width``)."""
    from hydra.utils import get_class

    from musegen.models.note_encoder import NoteEncoder

    encoder = {
        **_defaults(NoteEncoder, "n_tracks", "tables"),
        "key_dim": 0,
        "sounding_dim": 0,
        "texture_dim": 0,
        "ahead_dim": 0,
    }
    encoder.update(config.encoder)
    if config.velocity is None:
        encoder.pop("velocity_dim", None)
    try:
        backbone = _defaults(get_class(str(config.net.get("_target_"))), "input_size")
    except Exception:  # a backbone this musegen lacks: compared as stored
        backbone = {}
    heads = config.heads if config.heads.kind == "chained" else replace(config.heads, width=0)
    return replace(config, encoder=encoder, net={**backbone, **config.net}, heads=heads)


def _defaults(factory: Any, *skip: str) -> dict[str, Any]:
    """The keyword arguments of ``factory`` that have a default, with it."""
    return {
        name: p.default
        for name, p in inspect.signature(factory).parameters.items()
        if p.default is not inspect.Parameter.empty and name not in skip
    }


def drop_stop_point(trainer: L.Trainer) -> None:
    """Once training has finished, remove the ``interrupted.ckpt`` of the run's own folder,
    left by an earlier stop of a run resumed in place (as a requeued job is): its
    ``last.ckpt`` is later, and a stale stop point beside it would be resumed by mistake.
    A run resumed into another folder leaves the stopped run's folder as it is: its record
    names the file."""
    for callback in trainer.callbacks:
        if isinstance(callback, SaveOnStop):
            (callback.dirpath / INTERRUPTED).unlink(missing_ok=True)


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
