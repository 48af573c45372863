"""The fields of a note, named once: every module that reads, predicts, scores or samples a
note's fields imports them from here.

A note (``data.pianoroll_notes.NOTE_DTYPE``) is a ``pitch`` (MIDI 0-127), a ``step`` (beats
since the previous onset), a ``duration`` (beats) and a ``track`` (an LPD-5 track; the model
numbers its own), plus ``time`` (its onset in time steps, which the network reads as its
place in the bar) and ``velocity`` (kept in the data, not modelled).
"""

from __future__ import annotations

NOTE_FIELDS: tuple[str, ...] = ("pitch", "step", "duration", "track")
"""What the network predicts of every note: the heads, the losses and the sampler's fields."""

TIME_FIELDS: tuple[str, ...] = ("step", "duration")
"""The fields in beats: classes on the time grid, or a regression (``task.timing``)."""

INPUT_FIELDS: tuple[str, ...] = (*NOTE_FIELDS, "time")
"""What the network reads of every note: its fields and its onset."""

BATCH_COLUMNS: tuple[str, ...] = ("time", "pitch", "step", "duration", "velocity", "track")
"""The columns of a batch of windows (``data.windows``), each ``(B, length)``."""
