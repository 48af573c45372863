"""The fields of a note, named once: every module that reads, predicts, scores or samples a
note's fields imports them from here.

A note (``data.pianoroll_notes.NOTE_DTYPE``) is a ``pitch`` (MIDI 0-127), a ``step`` (beats
since the previous onset), a ``duration`` (beats), a ``track`` (an LPD-5 track; the model
numbers its own) and a ``velocity`` (1-127), plus ``time`` (its onset in time steps, which
the network reads as its place in the bar).
"""

from __future__ import annotations

NOTE_FIELDS: tuple[str, ...] = ("pitch", "step", "duration", "track")
"""What the network predicts of every note: the heads, the losses and the sampler's fields.
The note NLL is the sum of their NLLs."""

VELOCITY = "velocity"
"""How loud a note is: predicted last, where the data has dynamics
(``task.velocity_classes``); its NLL is reported beside the note NLL, not added to it."""

PREDICTED_FIELDS: tuple[str, ...] = (*NOTE_FIELDS, VELOCITY)
"""Every field a head may predict."""

TIME_FIELDS: tuple[str, ...] = ("step", "duration")
"""The fields in beats: classes on the time grid, or a regression (``task.timing``)."""

CLASSED_FIELDS: tuple[str, ...] = (*TIME_FIELDS, VELOCITY)
"""Fields predicted as classes of a value (``models.time_classes.ClassTables``): the heads
read and draw class indices, the notes hold the values."""

INPUT_FIELDS: tuple[str, ...] = (*PREDICTED_FIELDS, "time")
"""What the network may read of every note: its fields and its onset."""

AHEAD_FIELDS: tuple[str, ...] = ("ahead_gap", "ahead_pitch", "ahead_track", "kept_tracks")
"""What an accompaniment's kept music says after each note (``data.ahead``): the next kept
note's onset minus the note's (``NO_KEPT_NOTE``: none), its pitch and track, and the kept
tracks (a bit a track). Read by a network with ``task.encoder.ahead_dim``; never predicted."""

NO_KEPT_NOTE = -1
"""``ahead_gap`` of a note with no kept note after it."""

REST_PITCH = 0
"""Pitch of the neutral note that starts a piece generated from scratch (C-1, never played
in the data, duration 0): the network then draws the first real note itself."""

BATCH_COLUMNS: tuple[str, ...] = ("time", "pitch", "step", "duration", "velocity", "track")
"""The columns of a batch of windows (``data.windows``), each ``(B, length)``."""
