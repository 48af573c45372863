"""Backbones, one small module per file, all with the same interface.

The interface (what ``NoteNet`` relies on):

* ``__init__(input_size, hidden_size, **kwargs)``: ``input_size`` is the note encoder's
  width, given by ``NoteNet``; every other argument comes from ``model.net`` in the config
  (``task.param_budget`` sets ``hidden_size``).
* ``hidden_size``: an attribute, the width of the output (the heads read it).
* ``forward(x, state=None) -> (out, state)``: ``x`` of shape ``(B, T, input_size)``, ``out``
  of shape ``(B, T, hidden_size)``, causal (``out[:, t]`` sees ``x[:, :t + 1]`` only);
  ``state`` is whatever the backbone carries from one call to the next (``None``: a fresh
  start), so that feeding a sequence in chunks gives the same output as in one piece.
* ``step(x, state) -> (out, state)``, optional: one time step, ``x`` of shape
  ``(B, input_size)``. Decoding uses it when present (the recurrent ones here step through
  ``cell_step``, a third of a fused module's per-call cost); otherwise it calls ``forward``
  on a length-1 sequence.
* ``STATE_BATCH_DIM``, optional: a class attribute, the dimension of the batch in every
  tensor of its state. With it the state can be carried from one training batch to the next,
  its rows reset where a song starts (``data.stream=true``, ``musegen.data.streams``); the
  four recurrent ones have it (their states are ``(layers, B, hidden_size)``).

The four recurrent ones wrap PyTorch's fused recurrent modules (cuDNN on a GPU): no Python
loop over time steps. ``transformer`` is a causal decoder-only Transformer whose state is a
key/value cache. A backbone whose width must be a multiple of something has a classmethod
``hidden_multiple(**net_kwargs) -> int`` (``task.param_budget`` keeps to it), and may name a
finer integer argument that completes the budget with ``budget_fill(hidden_size,
**net_kwargs) -> (name, start)`` (``models.sizing``). Adding one to
musegen is one file here plus one ``conf/model/<name>.yaml`` whose ``net._target_`` names
it; the tests and the training benchmark read the model list from ``conf/model``. A backbone
in your own installed package needs no change to musegen: register its class under the
entry-point group ``musegen.backbones`` (CONTRIBUTING.md).
"""

from musegen.models.backbones.gru import GRUBackbone
from musegen.models.backbones.lstm import LSTMBackbone
from musegen.models.backbones.lstm_gru import LSTMGRUBackbone
from musegen.models.backbones.rnn import RNNBackbone
from musegen.models.backbones.transformer import TransformerBackbone

__all__ = ["GRUBackbone", "LSTMBackbone", "LSTMGRUBackbone", "RNNBackbone", "TransformerBackbone"]
