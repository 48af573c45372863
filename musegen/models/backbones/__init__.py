"""Recurrent backbones, one small module per file, all with the same interface.

``forward(x, state=None) -> (out, state)`` with ``x`` of shape ``(B, T, input_size)`` and
``out`` of shape ``(B, T, hidden_size)``; ``state`` is whatever the backbone carries between
calls (``None`` starts from zeros), so generation can feed one note at a time.
``step(x, state)`` does one time step (``x`` of shape ``(B, input_size)``) with the same
weights through ``cell_step``: decoding uses it, as a fused module pays its set-up cost on
every call. Each wraps
PyTorch's fused recurrent modules (cuDNN on a GPU): no Python loop over time steps.

Adding a backbone = one file here exporting a class with this interface + one
``conf/model/<name>.yaml`` whose ``net._target_`` names it.
"""

from musegen.models.backbones.gru import GRUBackbone
from musegen.models.backbones.lstm import LSTMBackbone
from musegen.models.backbones.lstm_gru import LSTMGRUBackbone
from musegen.models.backbones.rnn import RNNBackbone

__all__ = ["GRUBackbone", "LSTMBackbone", "LSTMGRUBackbone", "RNNBackbone"]
