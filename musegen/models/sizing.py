"""Equal-size comparisons: pick each backbone's hidden size for a parameter budget.

At one hidden size an LSTM has 4/3 the weights of a GRU and 4x an RNN's, so comparing
backbones at equal ``hidden_size`` mixes architecture with capacity. Setting
``task.param_budget`` solves, per backbone, for the hidden size whose whole network
(encoder + backbone + heads) comes closest to the budget; the layer counts stay as
configured. A backbone whose width must be a multiple of something (a Transformer's of its
head size) says so with a classmethod ``hidden_multiple(**net_kwargs)``; the search keeps to
it. Such a coarse width can miss the budget by a tenth; the backbone can then name a finer
integer argument with a classmethod ``budget_fill(hidden_size, **net_kwargs) -> (name,
default)`` (the Transformer's MLP width), which is searched next, from the width below the
budget, so that every backbone lands as near the budget as the others.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from musegen.models.config import NoteNetConfig
from musegen.models.network import NoteNet, resolve_backbone


def count_parameters(config: NoteNetConfig) -> int:
    """Parameters of the whole network for this config, built on the meta device (no memory)."""
    with torch.device("meta"):
        return NoteNet(config).num_parameters()


def size_for_budget(config: NoteNetConfig, budget: int, max_hidden: int = 8192) -> NoteNetConfig:
    """``config`` with the backbone's ``hidden_size`` set so that the network's parameter
    count is nearest ``budget``.

    The count grows with the hidden size, so a bisection over the allowed widths finds it.
    The heads are counted too: categorical timing heads are larger than regression ones, so
    a budget buys a smaller backbone with them.

    Raises
    ------
    ValueError
        When even the smallest width exceeds the budget (embeddings and heads alone do).
    """
    multiple = getattr(resolve_backbone(config.net.get("_target_")), "hidden_multiple", None)
    kwargs = {k: v for k, v in config.net.items() if not k.startswith("_")}
    step = int(multiple(**kwargs)) if callable(multiple) else 1

    def params(k: int) -> int:
        return count_parameters(config.with_backbone(hidden_size=k * step))

    if params(1) > budget:
        raise ValueError(
            f"task.param_budget={budget} is below the network's size at hidden_size={step} "
            f"({params(1)} parameters: embeddings and heads alone)"
        )
    lo, hi = _bracket(params, budget, 1, max_hidden // step)
    best = min((lo, hi), key=lambda k: abs(params(k) - budget))
    fill = getattr(resolve_backbone(config.net.get("_target_")), "budget_fill", None)
    if step == 1 or not callable(fill):
        return config.with_backbone(hidden_size=best * step)
    knob = fill(**{**kwargs, "hidden_size": lo * step})
    return _fill(config.with_backbone(hidden_size=lo * step), budget, *knob)


def _fill(config: NoteNetConfig, budget: int, name: str, start: int) -> NoteNetConfig:
    """``config`` with the integer backbone argument ``name`` grown from ``start`` (where the
    count is at most ``budget``) to the value whose count is nearest ``budget``."""

    def params(v: int) -> int:
        return count_parameters(config.with_backbone(**{name: v}))

    lo, hi = start, 2 * start + 1
    while params(hi) <= budget:  # widen until the budget is passed
        lo, hi = hi, 2 * hi
    lo, hi = _bracket(params, budget, lo, hi)
    return config.with_backbone(**{name: min((lo, hi), key=lambda v: abs(params(v) - budget))})


def _bracket(params: Callable[[int], int], budget: int, lo: int, hi: int) -> tuple[int, int]:
    """Bisect to the neighbours ``lo``, ``lo + 1`` around ``budget``, given
    ``params(lo) <= budget``: the count grows with the argument."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if params(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo, hi
