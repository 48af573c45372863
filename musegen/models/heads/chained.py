"""Chained heads: a note's fields predicted in an order, each head reading the fields before
it in the same note.

With independent heads the pitch is drawn from a mixture over every instrument, whatever
track is drawn beside it: a bass note takes a string's register, a drum hit a long duration.
Here, in ``task.head_order`` (default: step, track, pitch, duration), field ``k``'s logits are

    u_k = W_k GELU( P h + sum_{j < k} E_j[x_j] )

``P`` projects the hidden state to the heads' width (``task.head_width``), ``E_j`` embeds
field ``j``'s value (its class, for step and duration), ``W_k`` is field ``k``'s output
layer. The embeddings of the earlier fields are added to the projected state, as the
Compound Word Transformer (Hsiao et al., AAAI 2021) feeds the field sampled first into the
heads of the others; the GELU lets them change which features of the state matter (the bass
reads the bass's line), not only shift the logits. In training the earlier fields are the
true ones (teacher forcing within the note), in generation the ones just drawn. The product
of the fields' conditionals is the note's probability, so the note NLL (the sum of the
fields' NLLs) compares with the independent heads'.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from musegen.fields import CLASSED_FIELDS, VELOCITY
from musegen.models.config import NoteNetConfig
from musegen.models.heads.base import Pick, VelocityReadout, decode_fields
from musegen.models.note_encoder import N_PITCHES
from musegen.models.time_classes import ClassTables


class ChainedHeads(nn.Module):
    """The fields in ``config.fields`` order, each conditioned on those before it."""

    def __init__(self, config: NoteNetConfig, hidden_size: int, tables: ClassTables | None):
        super().__init__()
        if tables is None:  # NoteNetConfig refuses it first, in one line
            raise ValueError("chained heads need categorical timing")
        self.tables = tables
        self.order = config.fields
        width = config.heads.width or hidden_size
        sizes = {
            "pitch": N_PITCHES,
            "step": tables.size("step"),
            "duration": tables.size("duration"),
            "track": config.n_tracks,
        }
        if config.velocity is not None:
            sizes[VELOCITY] = tables.size(VELOCITY)
        self.project = nn.Linear(hidden_size, width)
        self.embed = nn.ModuleDict({f: nn.Embedding(sizes[f], width) for f in self.order[:-1]})
        self.readout = None
        if config.velocity is not None and config.heads.velocity == "readout":
            self.readout = VelocityReadout(
                hidden_size, width, sizes[VELOCITY], config.heads.velocity_grad
            )
        self.out = nn.ModuleDict(
            {f: nn.Linear(width, sizes[f]) for f in self.order if not self._read(f)}
        )

    def _read(self, field: str) -> bool:
        """Whether ``field`` comes from the velocity readout rather than the chain."""
        return field == VELOCITY and self.readout is not None

    def _logits(
        self, field: str, h: torch.Tensor, state: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        """One field's logits given the projected ``state`` plus the fields before it
        (``context``)."""
        if self._read(field):
            return self.readout(h, context - state)  # type: ignore[misc]
        out = self.out[field]
        return F.linear(F.gelu(context), out.weight, out.bias)

    def _value(self, field: str, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """A target field as the index its embedding reads (a class for step, duration and
        velocity)."""
        if field in CLASSED_FIELDS:
            return self.tables.classes_of(field, targets)
        return targets[field]

    def forward(
        self, h: torch.Tensor, targets: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Teacher forcing: ``h`` ``(..., H)`` and the true fields ``(...)`` -> each field's
        logits given the true fields before it, ``(..., V)``."""
        if targets is None:
            raise ValueError("chained heads need the note's true fields (teacher forcing)")
        state = context = self.project(h)  # (..., W)
        out = {}
        for i, field in enumerate(self.order):
            out[field] = self._logits(field, h, state, context)  # (..., V)
            if i + 1 < len(self.order):
                context = context + self.embed[field](self._value(field, targets))
        return out

    def _allowed_given(self, field: str, context: torch.Tensor, allowed: list[int]) -> torch.Tensor:
        """``log P(track in allowed | field = v)`` for every value ``v`` of ``field``, the field
        drawn just before the track: ``(B, V)``."""
        every = context[:, None] + self.embed[field].weight  # (B, V, W)
        track = self.out["track"](F.gelu(every)).log_softmax(-1)  # (B, V, n_tracks)
        return track[..., allowed].logsumexp(-1)  # (B, V)

    def _placeable(self, context: torch.Tensor, wait: torch.Tensor) -> torch.Tensor:
        """``log P(step >= wait(v) | pitch = v)`` ``(B, 128)`` for the pitch drawn just before
        the step, from the context before the pitch and each key's smallest allowed step
        ``wait`` (``SoundingKeys.waits``). Only the keys that must wait are scored (a few
        sounding ones); a silent key's note can always be placed (0)."""
        out = torch.zeros_like(wait, dtype=context.dtype)
        rows, keys = (wait > 0).nonzero(as_tuple=True)  # (N,), (N,)
        if rows.numel() == 0:
            return out
        every = context[rows] + self.embed["pitch"].weight[keys]  # (N, W)
        head = self.out["step"]
        step = F.linear(F.gelu(every), head.weight, head.bias).log_softmax(-1)  # (N, V)
        early = self.tables.step_values[None, :] < wait[rows, keys][:, None]  # (N, V)
        out[rows, keys] = step.masked_fill(early, float("-inf")).logsumexp(-1)
        return out

    def draw(self, h: torch.Tensor, pick: Pick) -> dict[str, torch.Tensor]:
        """One next note per row of ``h`` ``(B, H)``, its fields drawn in order, each from
        its head reading the ones drawn before: ``{field: (B,)}``.

        When the picker allows some tracks only and one field comes before the track (the
        pitch, in a pitch-first order), that field is drawn from its distribution given an
        allowed track, ``p(v) P(track in allowed | v)``, so the mask does not put a string's
        pitch on the bass; with more fields before the track the mask applies at the track.

        When the picker keeps notes off sounding keys (``pick.keys``) and the step is drawn
        right after the pitch, the pitch is drawn given that its note can be placed,
        ``p(v) P(step >= wait(v) | v)`` (``generation.sounding``).
        """
        state = context = self.project(h)  # (B, W)
        allowed = getattr(pick, "allowed", None)
        keys = getattr(pick, "keys", None)
        before_track = self.order.index("track") if "track" in self.order else -1
        step_after = self.order.index("step") if "step" in self.order else -1
        drawn: dict[str, torch.Tensor] = {}
        last = len(self.order) - 1
        # The layers' functions are called directly, without nn.Module's call machinery: at
        # batch 1 a note is a dozen tiny operations, each costing mostly its call overhead
        # (make bench, "generation ... batch 1").
        for i, field in enumerate(self.order):
            logits = self._logits(field, h, state, context)  # (B, V)
            if allowed is not None and before_track == 1 and i == 0:
                logits = logits.log_softmax(-1) + self._allowed_given(field, context, allowed)
            if field == "pitch" and keys is not None and step_after == i + 1:
                wait = keys.waits(drawn)
                if wait is not None:
                    logits = logits.log_softmax(-1) + self._placeable(context, wait)
            drawn[field] = pick(field, logits, drawn)  # (B,)
            if i < last:
                context = context + F.embedding(drawn[field], self.embed[field].weight)
        if "track" not in drawn:  # one track: the only one
            drawn["track"] = torch.zeros(h.shape[0], dtype=torch.int64, device=h.device)
        return decode_fields(drawn, self.tables)
