"""One time step of a fused ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` with its own weights.

A fused module called on a length-1 sequence pays its whole-sequence set-up on every call
(about 110 us for an LSTM(128) on a CPU), which dominates note-by-note generation. The
cell functions (``torch.lstm_cell``, ``torch.gru_cell``, ``torch.rnn_tanh_cell``) compute
the same step from the same parameters in a third of that. Training keeps the fused
modules (cuDNN on a GPU); only decoding steps through here. Dropout between layers is a
training-time operation and is not applied.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_CELLS = {"GRU": torch.gru_cell, "RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell}


def _weights(rnn: nn.RNNBase, layer: int) -> tuple[torch.Tensor, ...]:
    w = (getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}"))
    if rnn.bias:
        w += (getattr(rnn, f"bias_ih_l{layer}"), getattr(rnn, f"bias_hh_l{layer}"))
    else:
        w += (None, None)
    return w


def rnn_step(rnn: nn.RNNBase, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
    """Advance ``rnn`` by one step.

    Parameters
    ----------
    rnn : nn.LSTM, nn.GRU or nn.RNN
        Uni-directional, without projections.
    x : Tensor, shape=(B, input_size)
    state : as the module's own: ``(h, c)`` for an LSTM, ``h`` otherwise, each
        ``(num_layers, B, hidden_size)``; ``None`` for zeros.

    Returns
    -------
    out : Tensor, shape=(B, hidden_size)
        The last layer's output, equal to ``rnn(x[:, None], state)[0][:, 0]``.
    state
        The new state, in the module's own format.
    """
    batch, layers, hidden = x.shape[0], rnn.num_layers, rnn.hidden_size
    if state is None:
        zeros = x.new_zeros(layers, batch, hidden)
        state = (zeros, zeros) if isinstance(rnn, nn.LSTM) else zeros
    inp = x
    if isinstance(rnn, nn.LSTM):
        h0, c0 = state
        hs, cs = [], []
        for layer in range(layers):
            h, c = torch.lstm_cell(inp, (h0[layer], c0[layer]), *_weights(rnn, layer))
            hs.append(h)
            cs.append(c)
            inp = h
        return inp, (torch.stack(hs), torch.stack(cs))  # (B, H), ((L, B, H), (L, B, H))
    cell = _CELLS[rnn.mode]  # nn.RNN's mode already says tanh or relu
    hs = []
    for layer in range(layers):
        inp = cell(inp, state[layer], *_weights(rnn, layer))
        hs.append(inp)
    return inp, torch.stack(hs)  # (B, H), (L, B, H)
