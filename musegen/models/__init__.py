"""Next-note models: one Lightning task (``NextNoteTask``) over interchangeable backbones.

``NoteNet`` is the plain network (encoder -> backbone -> heads) with ``step()`` for
incremental decoding; ``load_network`` rebuilds one from a checkpoint with weights-only loading.
"""

from musegen.models.checkpoint import CheckpointError, load_network
from musegen.models.heads import NotePrediction
from musegen.models.network import NoteNet
from musegen.models.task import NextNoteTask, teacher_forcing

__all__ = [
    "CheckpointError",
    "NextNoteTask",
    "NoteNet",
    "NotePrediction",
    "load_network",
    "teacher_forcing",
]
