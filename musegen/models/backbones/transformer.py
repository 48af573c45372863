"""A causal decoder-only Transformer backbone, beside the recurrent ones.

Pre-norm blocks (LayerNorm -> attention -> residual, LayerNorm -> MLP -> residual), as GPT-2
and nanoGPT; attention through ``torch.nn.functional.scaled_dot_product_attention`` (fused
kernels where the device has them). Positions are rotary (RoPE; Su et al. 2021): each query
and key is rotated by its position, so attention depends on the distance between two notes,
not on where a window starts.

The ``state`` carried between calls is a key/value cache: the keys and values of every note
read so far, per layer. Decoding a note then costs attention over the cache and one
position's projections, not a re-run of the context (``step``). Generation keeps within the
trained context (``generation.decode`` re-reads the last half of the window once it is
full, from a fresh cache), so positions never exceed those training saw. Fed past that
(``decode.generate(context=None)``, ``evaluate context=null``), the rotary positions still
give relative distances, though distances longer than the training window were never
trained. Measured on Lakh (a 100-note training window, continuations of up to 281 notes):
carrying the cache scored no worse than re-reading, mean OA 0.851 against 0.839
(experiments/README.md, "The Transformer past its training context"); far longer pieces
are not measured.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from musegen.checks import at_least, check, integer

Cache = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer, keys and values of the notes read so far: each ``(B, heads, T_past, head_dim)``."""


Rotation = tuple[torch.Tensor, torch.Tensor]
"""The cosines and sines of every position's angles, each ``(T, D/2)``."""


def rotation(positions: torch.Tensor, head_dim: int, base: float = 10_000.0) -> Rotation:
    """The angles ``position * base^(-2i/D)`` of RoPE, once for every layer of a call."""
    half = head_dim // 2
    freq = base ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angle = positions.to(torch.float32)[:, None] * freq  # (T, D/2)
    return angle.cos(), angle.sin()


def rotary(x: torch.Tensor, turn: Rotation) -> torch.Tensor:
    """Rotate ``x`` ``(B, heads, T, D)`` pairwise by the angles of ``turn``."""
    half = x.shape[-1] // 2
    cos, sin = (t.to(x.dtype) for t in turn)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Block(nn.Module):
    """One pre-norm Transformer block with rotary self-attention."""

    def __init__(self, width: int, heads: int, mlp_hidden: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_hidden), nn.GELU(), nn.Linear(mlp_hidden, width)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, turn: Rotation, past: tuple | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.heads, -1).unbind(2)  # (B, T, h, D)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, h, T, D)
        q, k = rotary(q, turn), rotary(k, turn)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        n_past = k.shape[2] - T
        if n_past == 0:  # a fresh window: plain causal attention
            mask, causal = None, True
        elif T == 1:  # one new note: it sees every note before it
            mask, causal = None, False
        else:  # a chunk after a cache: each new note sees the cache and the chunk up to itself
            mask = torch.ones(T, n_past + T, dtype=torch.bool, device=x.device).tril(n_past)
            causal = False
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal,
        )  # (B, h, T, D)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, (k, v)


class TransformerBackbone(nn.Module):
    """Causal Transformer: input projection, ``num_layers`` blocks, final LayerNorm.

    Parameters
    ----------
    input_size : int
        The note encoder's width.
    hidden_size : int
        The model width; a multiple of ``2 * num_heads`` (rotary positions turn pairs of
        each head's features; ``task.param_budget`` keeps to it).
    num_layers : int
        Blocks.
    num_heads : int
        Attention heads, each ``hidden_size // num_heads`` wide.
    mlp_ratio : int
        The MLP's width over the model's.
    mlp_hidden : int, optional
        The MLP's width itself, instead of ``mlp_ratio * hidden_size``: ``task.param_budget``
        sets it to land on the budget, which the coarse widths alone miss by up to a tenth.
    dropout : float
        On attention weights and residual branches.

    ``state``: the key/value cache (``Cache``), ``None`` at the start.
    """

    @classmethod
    def hidden_multiple(cls, num_heads: int = 4, **_: Any) -> int:
        """Widths this backbone accepts are multiples of this (``models.sizing``)."""
        return 2 * int(num_heads)

    @classmethod
    def budget_fill(cls, hidden_size: int, mlp_ratio: int = 4, **_: Any) -> tuple[str, int]:
        """The finer argument ``models.sizing`` tunes after the width, and its start."""
        return "mlp_hidden", int(mlp_ratio) * int(hidden_size)

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        dropout: float = 0.1,
        mlp_hidden: int | None = None,
    ) -> None:
        super().__init__()
        for key, value in (("num_heads", num_heads), ("num_layers", num_layers)):
            at_least(value, f"model.net.{key}", 1)
        at_least(mlp_ratio, "model.net.mlp_ratio", 1)
        check(
            hidden_size,
            "model.net.hidden_size",
            lambda v: integer(1)(v) and v % (2 * num_heads) == 0,
            f"a multiple of twice model.net.num_heads ({2 * num_heads})",
        )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.head_dim = hidden_size // num_heads
        self.input = nn.Linear(input_size, hidden_size)
        self.blocks = nn.ModuleList(
            Block(hidden_size, num_heads, mlp_hidden or mlp_ratio * hidden_size, dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        """GPT-2's initialisation: small normal weights, zero biases."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, state: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """``x`` ``(B, T, input_size)`` after the notes in ``state`` -> ``(B, T, hidden)``."""
        n_past = 0 if not state else state[0][0].shape[2]
        positions = torch.arange(n_past, n_past + x.shape[1], device=x.device)
        turn = rotation(positions, self.head_dim)  # shared by every layer
        h = self.input(x)  # (B, T, H)
        cache: Cache = []
        for block, past in zip(self.blocks, state or [None] * len(self.blocks), strict=True):
            h, kv = block(h, turn, past)
            cache.append(kv)
        return self.norm(h), cache

    def step(self, x: torch.Tensor, state: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """One note: ``(B, input_size)`` -> ``(B, hidden)``, attending over the cache."""
        out, cache = self.forward(x[:, None], state)
        return out[:, 0], cache
