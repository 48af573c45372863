"""Next-note models: one Lightning task (``NextNoteTask``) over interchangeable backbones and
head designs.

``NoteNet`` is the plain network (encoder -> backbone -> heads), built from one
``NoteNetConfig``, with ``step()`` for incremental decoding; ``load_network`` rebuilds one from
a checkpoint with weights-only loading.
"""

from __future__ import annotations

from typing import Any

from musegen.models.checkpoint import CheckpointError, load_network
from musegen.models.config import NoteNetConfig
from musegen.models.network import NoteNet
from musegen.models.objective import teacher_forcing

__all__ = [
    "CheckpointError",
    "NextNoteTask",
    "NoteNet",
    "NoteNetConfig",
    "load_network",
    "teacher_forcing",
]


def __getattr__(name: str) -> Any:
    """``NextNoteTask`` on first use: its module imports Lightning, which importing any
    other module of this package (to generate, say) should not wait for."""
    if name == "NextNoteTask":
        from musegen.models.task import NextNoteTask

        return NextNoteTask
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
