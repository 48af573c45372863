"""Input embedding of a note: pitch and track embeddings beside its timing.

Timing enters in one of two ways (``time_input``):

* ``scalar``: ``log1p`` of step and duration in beats, as two numbers (a 16-beat rest must
  not swamp a 0.25-beat step in the same input); optionally projected (``time_dim``);
* ``classes``: embeddings of the step and duration classes of ``task.timing=categorical``
  (``time_classes``), the same classes the heads predict: a quarter note and a dotted one
  are then two learned vectors, not two nearby numbers.

``velocity_dim > 0`` (where velocity is a field, ``task.velocity_classes``) adds an
embedding of the note's velocity class: the dynamics so far, which the velocity head
continues.

``position_dim > 0`` adds where the note starts in its bar: an embedding of
``time mod bar_steps`` (the onset in time steps; a bar of 4 beats, as LPD stores no time
signature). Steps alone say how far apart notes are, not where the beat is: a model that
reads only them samples plausible steps that drift off the beat (ours: measured in
experiments/README.md, "Rhythm").
"""

from __future__ import annotations

import torch
from torch import nn

from musegen.checks import at_least, check, one_of
from musegen.models.time_classes import ClassTables

N_PITCHES = 128
TIME_INPUTS = ("scalar", "classes")


class NoteEncoder(nn.Module):
    """Map a note sequence to feature vectors of size ``out_dim``.

    Parameters
    ----------
    n_tracks : int
        Modelled tracks; with one track there is nothing to embed and none is used.
    pitch_dim, track_dim : int
        Embedding sizes.
    time_dim : int
        ``scalar`` input: 0 feeds the two ``log1p`` numbers as they are, ``> 0`` projects them
        to ``time_dim`` features (Linear + tanh). ``classes`` input: the size of each of the
        step and duration embeddings (16 when 0).
    time_input : {"scalar", "classes"}
        See the module docstring; ``classes`` needs ``tables``.
    tables : ClassTables, optional
        The class set of a categorical timing head.
    position_dim : int
        Width of the bar-position embedding; 0: no position input.
    bar_steps : int
        Time steps of a bar (``4 * resolution``).
    velocity_dim : int
        Width of the velocity-class embedding (needs ``tables`` with velocity classes); 0:
        no velocity input.
    """

    def __init__(
        self,
        n_tracks: int = 1,
        pitch_dim: int = 64,
        track_dim: int = 8,
        time_dim: int = 0,
        time_input: str = "scalar",
        tables: ClassTables | None = None,
        position_dim: int = 0,
        bar_steps: int = 96,
        velocity_dim: int = 0,
    ) -> None:
        super().__init__()
        for key, value, low in (
            ("pitch_dim", pitch_dim, 1),
            ("track_dim", track_dim, 1),
            ("time_dim", time_dim, 0),
            ("position_dim", position_dim, 0),
            ("velocity_dim", velocity_dim, 0),
        ):
            at_least(value, f"task.encoder.{key}", low)
        check(time_input, "task.encoder.time_input", one_of(TIME_INPUTS), " or ".join(TIME_INPUTS))
        if time_input == "classes" and tables is None:
            raise ValueError("task.encoder.time_input=classes needs task.timing=categorical")
        self.n_tracks, self.time_input, self.tables = n_tracks, time_input, tables
        self.pitch_emb = nn.Embedding(N_PITCHES, pitch_dim)
        self.track_emb = nn.Embedding(n_tracks, track_dim) if n_tracks > 1 else None
        if time_input == "classes":
            width = time_dim or 16
            self.step_emb = nn.Embedding(tables.size("step"), width)
            self.duration_emb = nn.Embedding(tables.size("duration"), width)
            time_width = 2 * width
        else:
            self.time_proj = (
                nn.Sequential(nn.Linear(2, time_dim), nn.Tanh()) if time_dim > 0 else None
            )
            time_width = time_dim or 2
        self.bar_steps = int(bar_steps)
        self.position_emb = nn.Embedding(self.bar_steps, position_dim) if position_dim else None
        self.velocity_emb = None
        if velocity_dim:
            if tables is None or tables.velocity is None:
                raise ValueError("task.encoder.velocity_dim needs task.velocity_classes")
            self.velocity_emb = nn.Embedding(tables.size("velocity"), velocity_dim)
        self.out_dim = (
            pitch_dim
            + (track_dim if self.track_emb is not None else 0)
            + time_width
            + position_dim
            + velocity_dim
        )

    def forward(
        self,
        pitch: torch.Tensor,
        step: torch.Tensor,
        duration: torch.Tensor,
        track: torch.Tensor | None = None,
        time: torch.Tensor | None = None,
        velocity: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Notes as ``(B, T)`` tensors (pitch, track, time, velocity int64; step, duration
        float in beats) -> ``(B, T, out_dim)``."""
        if self.time_input == "classes":
            timing = torch.cat(
                [
                    self.step_emb(self.tables.encode("step", step)),  # (B, T, w)
                    self.duration_emb(self.tables.encode("duration", duration)),  # (B, T, w)
                ],
                dim=-1,
            )
        else:
            timing = torch.stack([step, duration], dim=-1).clamp_min(0).log1p()  # (B, T, 2)
            if self.time_proj is not None:
                timing = self.time_proj(timing)  # (B, T, time_dim)
        parts = [self.pitch_emb(pitch), timing]  # (B, T, pitch_dim), (B, T, time)
        if self.track_emb is not None:
            if track is None:
                raise ValueError(f"track indices are required with {self.n_tracks} tracks")
            parts.append(self.track_emb(track))  # (B, T, track_dim)
        if self.position_emb is not None:
            if time is None:
                raise ValueError("note onsets (time) are required with the position input")
            parts.append(self.position_emb(torch.remainder(time, self.bar_steps)))  # (B, T, p)
        if self.velocity_emb is not None:
            if velocity is None:
                raise ValueError("note velocities are required with the velocity input")
            classes = self.tables.encode("velocity", velocity)  # (B, T)
            parts.append(self.velocity_emb(classes))  # (B, T, velocity_dim)
        return torch.cat(parts, dim=-1)  # (B, T, out_dim)
