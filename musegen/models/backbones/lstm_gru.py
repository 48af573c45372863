"""The paper's hybrid: LSTM layers feeding GRU layers ("RNN-LSTM with GRU").

The paper does not say how many layers of each it stacks, so both counts are settings.
"""

from __future__ import annotations

import torch
from torch import nn

from musegen.models.cell_step import rnn_step

LSTMGRUState = tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]


class LSTMGRUBackbone(nn.Module):
    """``lstm_layers`` of ``nn.LSTM`` then ``gru_layers`` of ``nn.GRU``, both batch first.

    Dropout is applied between every pair of stacked layers, including at the LSTM -> GRU
    junction, as a single stacked module would. ``state``: ``((h, c), h_gru)`` with
    ``h, c`` of shape ``(lstm_layers, B, hidden_size)`` and ``h_gru`` of shape
    ``(gru_layers, B, hidden_size)``.
    """

    STATE_BATCH_DIM = 1
    """Where the batch lies in the state's tensors: a state that can be carried from one
    training batch to the next (``data.stream``), its rows reset where a song starts."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int = 256,
        lstm_layers: int = 1,
        gru_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if lstm_layers < 1 or gru_layers < 1:
            raise ValueError(
                f"model.net: lstm_layers and gru_layers must be >= 1, got {lstm_layers}, "
                f"{gru_layers} (use model=lstm or model=gru for a single kind)"
            )
        self.input_size, self.hidden_size = input_size, hidden_size
        self.lstm_layers, self.gru_layers = lstm_layers, gru_layers
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            lstm_layers,
            batch_first=True,
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.junction = nn.Dropout(dropout)
        self.gru = nn.GRU(
            hidden_size,
            hidden_size,
            gru_layers,
            batch_first=True,
            dropout=dropout if gru_layers > 1 else 0.0,
        )

    def forward(
        self, x: torch.Tensor, state: LSTMGRUState | None = None
    ) -> tuple[torch.Tensor, LSTMGRUState]:
        lstm_state, gru_state = state if state is not None else (None, None)
        mid, (h, c) = self.lstm(x, lstm_state)  # (B, T, H)
        out, h_gru = self.gru(self.junction(mid), gru_state)  # (B, T, H)
        return out, ((h, c), h_gru)

    def step(
        self, x: torch.Tensor, state: LSTMGRUState | None = None
    ) -> tuple[torch.Tensor, LSTMGRUState]:
        """One time step for decoding: ``x`` ``(B, input_size)`` -> ``(B, hidden_size)``."""
        lstm_state, gru_state = state if state is not None else (None, None)
        mid, lstm_state = rnn_step(self.lstm, x, lstm_state)  # (B, H)
        out, gru_state = rnn_step(self.gru, mid, gru_state)  # (B, H); no dropout in eval
        return out, (lstm_state, gru_state)
