"""Config nodes to objects, with a user's bad value reported in one line naming its key.

``musegen.train`` builds everything through here: the datamodule, the task, the callbacks,
the loggers and the trainer (the run's own config: trusted, unlike a run folder's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hydra
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig

from musegen.checks import ConfigError, integer
from musegen.errors import UserError, first_line

KEY_PREFIXES = ("data.", "model.", "task.", "trainer.", "callbacks.", "logger.", "evaluate.")


def instantiate(node: DictConfig, key: str, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` with plain containers; a ``ValueError``/``TypeError``
    raised by the constructor (a user's bad value) becomes one ``ConfigError`` line."""
    try:
        return hydra.utils.instantiate(node, _convert_="all", **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, UserError):
            raise cause from None
        if isinstance(cause, ValueError | TypeError):
            msg = first_line(cause)
            named = msg.startswith((key, *KEY_PREFIXES))  # already says which setting
            raise ConfigError(msg if named else f"{key}: {msg}") from cause
        raise


def instantiate_all(group: DictConfig | None, key: str) -> list[Any]:
    """Every ``_target_`` node of a group (callbacks, loggers); ``null`` entries are skipped."""
    return [
        instantiate(node, f"{key}.{name}")
        for name, node in (group or {}).items()
        if isinstance(node, DictConfig) and "_target_" in node
    ]


def callbacks(cfg: DictConfig) -> list[Any]:
    """The configured callbacks, the end-of-run evaluation (``cfg.evaluate``) among them.

    A progress bar is dropped when ``trainer.enable_progress_bar`` is false: Lightning
    refuses a bar it is told not to show.
    """
    made = instantiate_all(cfg.get("callbacks"), "callbacks")
    if cfg.trainer.get("enable_progress_bar", True) is False:
        made = [c for c in made if not isinstance(c, ProgressBar)]
    evaluate = cfg.get("evaluate")
    if isinstance(evaluate, DictConfig) and evaluate.get("enabled", False):
        made.append(instantiate(evaluate, "evaluate"))
    return made


def task(
    cfg: DictConfig,
    track_names: list[str],
    context: int | None = None,
    velocity_counts: Callable[[], Any] | None = None,
    velocity: Any = None,
) -> Any:
    """The LightningModule of ``cfg.task`` for these modelled tracks and the training window
    (the datamodule's ``track_names`` and ``seq_len``); with ``task.velocity_classes``, the
    velocity classes ``velocity`` (a fine-tuned network's own), else fitted on the training
    notes' velocities (``velocity_counts()``, the datamodule's, which prepares the data;
    without it equal-width classes)."""
    from musegen.models.velocity_classes import VelocityClasses

    names = list(track_names)
    extra: dict[str, Any] = {}
    n = cfg.task.get("velocity_classes", 0)
    if velocity is not None:
        extra["velocity"] = velocity.to_dict()
    elif velocity_counts is not None and integer(1)(n):
        counts = velocity_counts().sum(axis=0)  # (128,) notes per velocity
        extra["velocity"] = VelocityClasses.fit(counts, n).to_dict()
    for part in ("optimizer", "scheduler"):  # Hydra's partial nodes as factories
        extra[part] = factory(cfg.task.get(part), f"task.{part}")
    return instantiate(
        cfg.task, "task", n_tracks=len(names), track_names=names, context=context, **extra
    )


def factory(node: Any, key: str) -> Callable[..., Any] | None:
    """A ``_partial_: true`` node as the factory it describes (``functools.partial``), or
    None; a node without ``_target_`` is one line."""
    if node is None:
        return None
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigError(f"{key} must be a config node with _target_ and _partial_: true")
    made = hydra.utils.instantiate(node, _partial_=True, _convert_="all")
    if not callable(made):
        raise ConfigError(f"{key}: {node['_target_']} did not give a factory")
    return made
