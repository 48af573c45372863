"""GRU backbone (``nn.GRU``): fewer gates than the LSTM, cheaper per step (Cho et al. 2014)."""

from __future__ import annotations

import torch
from torch import nn

from musegen.models.cell_step import rnn_step


class GRUBackbone(nn.Module):
    """Stacked ``nn.GRU``, batch first.

    ``state``: ``h`` of shape ``(num_layers, B, hidden_size)``.
    """

    STATE_BATCH_DIM = 1
    """Where the batch lies in the state's tensors: a state that can be carried from one
    training batch to the next (``data.stream``), its rows reset where a song starts."""

    def __init__(
        self, input_size: int, hidden_size: int = 256, num_layers: int = 2, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.gru = nn.GRU(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out, h = self.gru(x, state)  # (B, T, H), (num_layers, B, H)
        return out, h

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step for decoding: ``x`` ``(B, input_size)`` -> ``(B, hidden_size)``."""
        return rnn_step(self.gru, x, state)
