"""A backbone that is not recurrent: stacked causal 1-D convolutions over the note sequence.

It follows musegen's backbone interface (``musegen.models.backbones``): ``input_size`` and
``hidden_size`` in the constructor, a ``hidden_size`` attribute, and ``forward(x, state)``
returning ``(out, state)``. The state is the last ``kernel_size - 1`` inputs of every layer,
so that feeding one note at a time (musegen's decoding) gives the same output as a whole
sequence. It has no ``step``: musegen then decodes through ``forward``.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class CausalConvBackbone(nn.Module):
    """``num_layers`` causal convolutions (kernel ``kernel_size``) with GELU, batch first."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 64,
        num_layers: int = 2,
        kernel_size: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.hidden_size, self.kernel_size = hidden_size, kernel_size
        sizes = [input_size] + [hidden_size] * num_layers
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size) for a, b in itertools.pairwise(sizes)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = x.transpose(1, 2)  # (B, C, T)
        new_state = []
        for i, conv in enumerate(self.convs):
            past = (
                state[i]
                if state is not None
                else h.new_zeros(h.shape[0], h.shape[1], self.kernel_size - 1)
            )
            padded = torch.cat([past, h], dim=2)  # (B, C, k - 1 + T)
            new_state.append(padded[:, :, -(self.kernel_size - 1) :])
            h = self.dropout(nn.functional.gelu(conv(padded)))  # (B, H, T)
        return h.transpose(1, 2), new_state  # (B, T, H)
