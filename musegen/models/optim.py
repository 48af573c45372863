"""Optimizer and scheduler factories of the task, from Hydra's ``_partial_: true`` nodes.

``conf/task/next_note.yaml`` writes them as partial nodes (the optimizer needs the
parameters, the scheduler the optimizer, neither known to the config). The task is
instantiated with ``_recursive_: false`` (its ``net`` is a config that the network and its
checkpoints keep as data), so the task turns these nodes into factories itself, with
Hydra's own ``instantiate``. A factory passed from Python (``functools.partial``) is taken
as it is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import hydra

ADAM = functools.partial(hydra.utils.get_class("torch.optim.Adam"), lr=1e-3)
"""The default optimizer: Adam with learning rate 1e-3 (the paper's, and TensorFlow's
music-generation tutorial's)."""


def factory(node: Any, key: str) -> Callable[..., Any] | None:
    """A callable from a ``_partial_: true`` node (or a callable, or ``None``); its ``lr`` and
    ``weight_decay``, when it sets them, are checked here (one line naming the key): torch
    would only complain once training starts, after the data is built."""
    if node is None or callable(node):
        return node
    if not isinstance(node, Mapping) or "_target_" not in node:
        raise ValueError(f"{key} must be a config node with _target_ and _partial_: true")
    for name, low, what in (("lr", 0.0, "a number > 0"), ("weight_decay", 0.0, "a number >= 0")):
        value = node.get(name)
        strict = name == "lr"
        bad = isinstance(value, bool) or not isinstance(value, int | float)
        if value is not None and (
            bad or not math.isfinite(value) or value < low or (strict and value == low)
        ):
            raise ValueError(f"{key}.{name} must be {what}, got {value!r}")
    made = hydra.utils.instantiate(dict(node), _partial_=True)
    if not callable(made):
        raise ValueError(f"{key}: {node['_target_']} did not give a factory")
    return made


def describe(made: Callable[..., Any] | None) -> dict[str, Any] | None:
    """A factory as plain data (``_target_`` and keyword arguments), for hyperparameters and
    logs: checkpoints then stay loadable weights-only."""
    if made is None:
        return None
    if isinstance(made, functools.partial):
        target = f"{made.func.__module__}.{made.func.__qualname__}"
        return {"_target_": target, **{k: _plain(v) for k, v in made.keywords.items()}}
    return {"_target_": f"{made.__module__}.{getattr(made, '__qualname__', repr(made))}"}


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
