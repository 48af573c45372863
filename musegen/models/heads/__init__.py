"""Output heads: what the next note is, from the backbone's hidden state.

Every design has the same interface (``HeadsBase``):

* ``forward(h, targets)``: the logits of every field at every position, ``{field: (..., V)}``
  (a regressed step or duration: ``(...)`` beats). Teacher forcing: a head that reads
  earlier fields of the same note reads their true values, ``targets``.
* ``draw(h, pick)``: one next note per row of ``h`` ``(B, H)``, its fields drawn in the
  design's order by ``pick(field, logits, drawn)`` (``generation.sampling.Picker``), each
  head reading the fields drawn before it: ``{field: (B,)}``, step and duration in beats.

Designs (``task.heads``, registered in ``HEADS``):

* ``independent`` (``independent.py``): every field from the hidden state alone, the heads
  of TensorFlow's tutorial (and of MMT). The pitch is then drawn from a mixture over every
  instrument, whatever track is drawn beside it.
* ``chained`` (``chained.py``): the fields in ``task.head_order``; each head also reads the
  embeddings of the fields before it in the same note (the Compound Word Transformer's way,
  Hsiao et al. 2021): the bass's pitch is drawn knowing it is the bass.

A new design is one file here and one line in ``HEADS`` (CONTRIBUTING.md, "Adding a head
design").
"""

from __future__ import annotations

from torch import nn

from musegen.models.config import NoteNetConfig
from musegen.models.heads.base import Pick, decode_fields
from musegen.models.heads.chained import ChainedHeads
from musegen.models.heads.independent import IndependentHeads
from musegen.models.time_classes import ClassTables

HEADS: dict[str, type[nn.Module]] = {
    "independent": IndependentHeads,
    "chained": ChainedHeads,
}
"""``task.heads`` -> the design's class."""


def make_heads(config: NoteNetConfig, hidden_size: int, tables: ClassTables | None) -> nn.Module:
    """The heads ``config.heads.kind`` names, on a backbone of ``hidden_size``."""
    kind = config.heads.kind
    if kind not in HEADS:
        raise ValueError(f"task.heads: {kind!r} is not one of {list(HEADS)}")
    return HEADS[kind](config, hidden_size, tables)


__all__ = ["HEADS", "ChainedHeads", "IndependentHeads", "Pick", "decode_fields", "make_heads"]
