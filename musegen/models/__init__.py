"""Next-note models: one Lightning task (``NextNoteTask``) over interchangeable backbones and
head designs.

``NoteNet`` is the plain network (encoder -> backbone -> heads), built from one
``NoteNetConfig``, with ``step()`` for incremental decoding; ``load_network`` rebuilds one from
a checkpoint with weights-only loading.
"""

from musegen.models.checkpoint import CheckpointError, load_network
from musegen.models.config import NoteNetConfig
from musegen.models.network import NoteNet
from musegen.models.objective import teacher_forcing
from musegen.models.task import NextNoteTask

__all__ = [
    "CheckpointError",
    "NextNoteTask",
    "NoteNet",
    "NoteNetConfig",
    "load_network",
    "teacher_forcing",
]
