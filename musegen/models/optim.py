"""Optimizer and scheduler factories of the task, and how checkpoints describe them.

``conf/task/next_note.yaml`` writes them as Hydra ``_partial_: true`` nodes (the optimizer
needs the parameters, the scheduler the optimizer, neither known to the config);
``instantiate.task`` turns the nodes into factories (``functools.partial``) and the task
takes those, checking their learning rate and weight decay here (one line naming the key):
torch would only complain once training starts, after the data is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from musegen.checks import check, number, optional

ADAM = functools.partial(torch.optim.Adam, lr=1e-3)
"""The default optimizer: Adam with learning rate 1e-3 (the paper's, and TensorFlow's
music-generation tutorial's)."""

RULES = (
    ("lr", number(0.0, low_inclusive=False), "a number > 0"),
    ("weight_decay", number(0.0), "a number >= 0"),
)


def checked(made: Callable[..., Any] | None, key: str) -> Callable[..., Any] | None:
    """``made`` (a factory, or None) with its ``lr`` and ``weight_decay`` checked, where it
    sets them (``RULES``)."""
    if made is None:
        return None
    if not callable(made):
        raise ValueError(f"{key} must be a factory (a _partial_: true node), got {made!r}")
    keywords = getattr(made, "keywords", {}) or {}
    for name, ok, what in RULES:
        check(keywords.get(name), f"{key}.{name}", optional(ok), what)
    return made


def describe(made: Callable[..., Any] | None) -> dict[str, Any] | None:
    """A factory as plain data (``_target_`` and keyword arguments), for hyperparameters and
    logs: checkpoints then stay loadable weights-only."""
    if made is None:
        return None
    if isinstance(made, functools.partial):
        target = f"{made.func.__module__}.{made.func.__qualname__}"
        return {"_target_": target, **{k: _scalar_or_repr(v) for k, v in made.keywords.items()}}
    return {"_target_": f"{made.__module__}.{getattr(made, '__qualname__', repr(made))}"}


def _scalar_or_repr(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
