"""The training objective of one batch, shared by the task and the training benchmark.

Batches are dicts of ``(B, L + 1)`` tensors (``data.windows``). ``teacher_forcing`` is the one
place where they become inputs and next-note targets; ``batch_losses`` runs the network and
scores the positions the batch asks for:

* a ``score`` mask (the song pass of val and test, ``data.windows.SongWindows``): the
  positions it marks;
* ``target="last"`` (TensorFlow's tutorial's, whose losses the paper reports): the note after
  each window only;
* ``target="all"``: every position, teacher forcing at each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from musegen.fields import AHEAD_FIELDS, INPUT_FIELDS, PREDICTED_FIELDS
from musegen.models.losses import LossWeights, note_losses

TARGETS = ("last", "all")


def teacher_forcing(
    batch: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split ``(B, L + 1)`` windows into inputs ``[:, :-1]`` and next-note targets ``[:, 1:]``,
    both ``(B, L)``: target ``t`` is the note after input ``t`` (the inputs with the kept music
    ahead of each note where the batch has it, ``data.ahead``). The targets also carry
    ``before``, the onset of the note each follows (what an onset counted from the bar line
    is counted from, ``ClassTables.classes_of``)."""
    inputs = {k: batch[k][:, :-1] for k in (*INPUT_FIELDS, *AHEAD_FIELDS) if k in batch}
    targets = {k: batch[k][:, 1:] for k in PREDICTED_FIELDS if k in batch}  # (B, L)
    if "time" in inputs:
        targets["before"] = inputs["time"]  # (B, L)
    return inputs, targets


def scored(
    h: torch.Tensor, targets: Mapping[str, torch.Tensor], batch: Mapping[str, Any], target: str
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The hidden states ``(N, H)`` or ``(B, T', H)`` and targets of the scored positions."""
    if "score" in batch:
        keep = batch["score"]  # (B, L)
        return h[keep], {k: v[keep] for k, v in targets.items()}  # (N, H), (N,)
    if target == "last":
        return h[:, -1:], {k: v[:, -1:] for k, v in targets.items()}  # (B, 1, H), (B, 1)
    return h, dict(targets)


def batch_losses(
    net: Any,
    batch: Mapping[str, torch.Tensor],
    target: str,
    weights: LossWeights,
    pressure: float,
) -> tuple[dict[str, torch.Tensor], int]:
    """The losses of ``net`` on one batch (``note_losses``) and the number of scored notes."""
    h, targets = hidden_states(net, batch)
    return score(net, h, targets, batch, target, weights, pressure)


def stream_losses(
    net: Any,
    batch: Mapping[str, torch.Tensor],
    state: Any,
    target: str,
    weights: LossWeights,
    pressure: float,
) -> tuple[dict[str, torch.Tensor], int, Any]:
    """``batch_losses`` for a batch of streams (``data.streams``): the network starts from
    ``state``, the one the previous batch left (None: the first), its rows ``batch["reset"]``
    afresh, and the state after the batch is returned for the next, detached (the graph of
    this batch is freed after its backward pass, not held until the next batch)."""
    inputs, targets = teacher_forcing(batch)
    if state is not None:
        state = net.fresh_rows(state, batch["reset"])
    h, state = net.hidden(inputs, state)
    losses, n = score(net, h, targets, batch, target, weights, pressure)
    return losses, n, net.fresh_rows(state, torch.zeros_like(batch["reset"]))


def hidden_states(
    net: Any, batch: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The backbone's states ``(B, L, H)`` over a batch's inputs, and the next notes."""
    inputs, targets = teacher_forcing(batch)
    h, _ = net.hidden(inputs)
    return h, targets


def score(
    net: Any,
    h: torch.Tensor,
    targets: Mapping[str, torch.Tensor],
    batch: Mapping[str, Any],
    target: str,
    weights: LossWeights,
    pressure: float,
) -> tuple[dict[str, torch.Tensor], int]:
    """The losses of the states ``h`` at ``target``'s positions, and how many were scored:
    one backbone pass can be scored at several targets."""
    h, targets = scored(h, targets, batch, target)
    pred = net.heads(h, targets)
    losses = note_losses(pred, targets, weights, pressure, net.tables, net.resolution)
    return losses, targets["pitch"].numel()
