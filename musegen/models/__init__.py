"""Next-note models: one Lightning task (``NextNoteTask``) over interchangeable backbones and
head designs.

``NoteNet`` is the plain network (encoder -> backbone -> heads), built from one
``NoteNetConfig``, with ``step()`` for incremental decoding; ``load_network`` rebuilds one from
a checkpoint with weights-only loading.

The names below are imported when first used: importing any module of this package (its
config, say) then costs no Lightning import, which only the task needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CheckpointError": "musegen.models.checkpoint",
    "load_network": "musegen.models.checkpoint",
    "NoteNetConfig": "musegen.models.config",
    "NoteNet": "musegen.models.network",
    "teacher_forcing": "musegen.models.objective",
    "NextNoteTask": "musegen.models.task",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
