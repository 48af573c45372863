"""Equal-size comparisons: pick each backbone's hidden size for a parameter budget.

At one hidden size an LSTM has 4/3 the weights of a GRU and 4x an RNN's, so comparing
backbones at equal ``hidden_size`` mixes architecture with capacity. Setting
``task.param_budget`` solves, per backbone, for the hidden size whose whole network
(encoder + backbone + heads) comes closest to the budget; the layer counts stay as
configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from musegen.models.network import NoteNet


def count_parameters(
    net: Mapping[str, Any],
    n_tracks: int = 1,
    encoder: Mapping[str, Any] | None = None,
    timing: Mapping[str, Any] | None = None,
) -> int:
    """Parameters of the whole network for this config, built on the meta device (no memory)."""
    with torch.device("meta"):
        return NoteNet(net, n_tracks=n_tracks, encoder=encoder, timing=timing).num_parameters()


def size_for_budget(
    net: Mapping[str, Any],
    budget: int,
    n_tracks: int = 1,
    encoder: Mapping[str, Any] | None = None,
    timing: Mapping[str, Any] | None = None,
    max_hidden: int = 8192,
) -> dict[str, Any]:
    """``net`` with ``hidden_size`` set so the network's parameter count is nearest ``budget``.

    The count grows with the hidden size, so a bisection over 1..``max_hidden`` finds it.
    The heads are counted too: categorical timing heads are larger than regression ones, so
    a budget buys a smaller backbone with them.

    Raises
    ------
    ValueError
        When even ``hidden_size=1`` exceeds the budget (embeddings and heads alone do).
    """

    def params(h: int) -> int:
        return count_parameters({**net, "hidden_size": h}, n_tracks, encoder, timing)

    if params(1) > budget:
        raise ValueError(
            f"task.param_budget={budget} is below the network's size at hidden_size=1 "
            f"({params(1)} parameters: embeddings and heads alone)"
        )
    lo, hi = 1, max_hidden  # invariant: params(lo) <= budget
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if params(mid) <= budget:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda h: abs(params(h) - budget))
    return {**net, "hidden_size": best}
