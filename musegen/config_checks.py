"""User mistakes in a training config, reported in one line that names the key.

Two layers: ``check_overrides`` looks at the command line before Hydra composes anything
(an unknown ``model=foo`` would otherwise end in Hydra's multi-line report), and
``check_config`` looks at the composed config before any data is built or model trained.
Data keys are checked again by ``NoteDataModule`` itself; this module fails earlier.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
OPTIONAL_GROUPS = ("experiment", "hparams_search", "debug")
"""Groups whose default is ``null``, so ``<group>=null`` is a valid choice."""


class ConfigError(ValueError):
    """A nonsense config value; the message is one line and starts with the key."""


def group_choices(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the ``.yaml`` files of one config group (e.g. ``model``), sorted."""
    folder = config_dir / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def check_overrides(args: Iterable[str], config_dir: Path = CONFIG_DIR) -> None:
    """Reject ``<group>=<unknown>`` on the command line, listing the valid choices.

    Sweeps (``model=rnn,lstm``) check every value. Arguments Hydra itself would reject for
    their syntax are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException:
        return
    for ov in overrides:
        group = ov.key_or_group
        if group.startswith("hydra") or not (config_dir / group).is_dir() or ov.is_delete():
            continue
        if ov.is_sweep_override():
            if not ov.is_choice_sweep():
                continue
            values = list(ov.sweep_string_iterator())
        else:
            values = [ov.get_value_element_as_str()]
        valid = group_choices(group, config_dir)
        for value in values:
            if value in valid or (value == "null" and group in OPTIONAL_GROUPS):
                continue
            raise ConfigError(f"{group}={value}: unknown {group}; choose from {', '.join(valid)}")


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None)


def _require(cfg: DictConfig, key: str, ok, what: str, optional: bool = False) -> None:
    value = _get(cfg, key)
    if value is None and optional:
        return
    try:
        good = bool(ok(value))
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"{key} must be {what}, got {value!r}")


def _int(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _num(low: float, high: float = math.inf, low_inclusive: bool = True):
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return False
        return (v >= low if low_inclusive else v > low) and v <= high

    return ok


def check_config(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` (one line naming the key) for values that cannot train.

    Checks: the data window and batch, the modelled tracks, the backbone's sizes and dropout,
    the task's target, loss weights, learning rate and budget, the trainer's limits, the
    seed, and that ``ckpt_path`` exists.
    """
    from musegen.data.tracks import track_ids
    from musegen.models.losses import COMPONENTS
    from musegen.models.task import TARGETS

    # data (NoteDataModule checks these too, after Hydra has instantiated it)
    _require(cfg, "data.seq_len", _int(1), "an integer >= 1")
    _require(cfg, "data.batch_size", _int(1), "an integer >= 1")
    _require(cfg, "data.num_workers", _int(0), "an integer >= 0", optional=True)
    _require(cfg, "data.window_stride", _int(1), "an integer >= 1", optional=True)
    _require(cfg, "data.max_songs", _int(1), "an integer >= 1 or null", optional=True)
    tracks = _get(cfg, "data.tracks")
    if tracks is not None:
        try:
            track_ids(list(tracks))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    # model
    net = _get(cfg, "model.net")
    if net is None or "_target_" not in net:
        raise ConfigError("model.net must be a backbone config with a _target_")
    for key in ("hidden_size", "num_layers", "lstm_layers", "gru_layers"):
        if key in net:
            _require(cfg, f"model.net.{key}", _int(1), "an integer >= 1")
    if "dropout" in net:
        _require(cfg, "model.net.dropout", lambda v: _num(0.0)(v) and v < 1, "in [0, 1)")

    # task
    _require(cfg, "task.target", lambda v: v in TARGETS, f"one of {list(TARGETS)}")
    for key in ("pitch_dim", "track_dim"):
        _require(cfg, f"task.encoder.{key}", _int(1), "an integer >= 1", optional=True)
    _require(cfg, "task.encoder.time_dim", _int(0), "an integer >= 0", optional=True)
    weights = _get(cfg, "task.loss_weights") or {}
    for key in weights:
        if key not in COMPONENTS:
            raise ConfigError(f"task.loss_weights.{key}: unknown; valid: {list(COMPONENTS)}")
        _require(cfg, f"task.loss_weights.{key}", _num(0.0), "a number >= 0")
    _require(cfg, "task.positive_pressure", _num(0.0), "a number >= 0", optional=True)
    _require(
        cfg, "task.optimizer.lr", _num(0.0, low_inclusive=False), "a number > 0", optional=True
    )
    _require(cfg, "task.optimizer.weight_decay", _num(0.0), "a number >= 0", optional=True)
    _require(cfg, "task.param_budget", _int(1), "a positive integer or null", optional=True)

    # trainer and run
    _require(cfg, "trainer.max_epochs", _int(-1), "an integer >= -1 (-1: no limit)", optional=True)
    _require(cfg, "trainer.max_steps", _int(-1), "an integer >= -1 (-1: no limit)", optional=True)
    _require(cfg, "trainer.gradient_clip_val", _num(0.0), "a number >= 0 or null", optional=True)
    _require(cfg, "seed", _int(0), "an integer >= 0 or null", optional=True)
    ckpt = _get(cfg, "ckpt_path")
    if ckpt is not None and not Path(str(ckpt)).expanduser().is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint file {ckpt}")
    if not _get(cfg, "train") and not _get(cfg, "test"):
        raise ConfigError("train and test are both false: nothing to do")
    if not _get(cfg, "train") and ckpt is None:
        raise ConfigError("ckpt_path: train=false tests a trained model; give its checkpoint")
