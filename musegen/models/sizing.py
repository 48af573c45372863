"""Equal-size comparisons: pick each backbone's hidden size for a parameter budget.

At one hidden size an LSTM has 4/3 the weights of a GRU and 4x an RNN's, so comparing
backbones at equal ``hidden_size`` mixes architecture with capacity. Setting
``task.param_budget`` solves, per backbone, for the hidden size whose whole network
(encoder + backbone + heads) comes closest to the budget; the layer counts stay as
configured. A backbone whose width must be a multiple of something (a Transformer's of its
head size) says so with a class attribute ``hidden_multiple``; the search keeps to it.
"""

from __future__ import annotations

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
    step = int(getattr(resolve_backbone(config.net.get("_target_")), "hidden_multiple", 1))

    def params(k: int) -> int:
        return count_parameters(config.with_backbone(hidden_size=k * step))

    if params(1) > budget:
        raise ValueError(
            f"task.param_budget={budget} is below the network's size at hidden_size={step} "
            f"({params(1)} parameters: embeddings and heads alone)"
        )
    lo, hi = 1, max_hidden // step  # invariant: params(lo) <= budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if params(mid) <= budget:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda k: abs(params(k) - budget))
    return config.with_backbone(hidden_size=best * step)
