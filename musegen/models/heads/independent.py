"""Independent heads: every field of the next note from the hidden state alone.

The heads of TensorFlow's music-generation tutorial (whose losses the paper reports): linear
layers for the pitch (128-way), the track (with several tracks) and, by ``task.timing``:

* ``regression``: step and duration as two numbers in beats, trained with mean squared
  error; the loss's positive pressure keeps them non-negative and decoding clamps them at 0.
  A regression predicts the mean of a distribution with several peaks (chord notes at step 0,
  melody at 1/2 beat), so its notes fall between the real values.
* ``categorical``: step and duration as classes on the time grid (``time_classes``), drawn
  like the pitch.

The fields are drawn in the order the decoder always drew them (pitch, track, step,
duration; the velocity, where modelled, last), so a checkpoint written before the chained
heads draws the same notes from the same seed. A per-track sampling rule must see the track
before the pitch: then the track is drawn first but with the random numbers it has in that
order (``_track_then_pitch``), so a rule that changes nothing (a temperature of 1) changes
no note, and any other changes only its track's notes.
"""

from __future__ import annotations

import torch
from torch import nn

from musegen.fields import TIME_FIELDS, VELOCITY
from musegen.models.config import NoteNetConfig
from musegen.models.heads.base import Pick, VelocityReadout, decode_fields
from musegen.models.note_encoder import N_PITCHES
from musegen.models.time_classes import ClassTables

ORDER = ("pitch", "track", "step", "duration", VELOCITY)


class IndependentHeads(nn.Module):
    """Linear heads for pitch, step, duration and, with several tracks, track."""

    def __init__(self, config: NoteNetConfig, hidden_size: int, tables: ClassTables | None):
        super().__init__()
        self.categorical = tables is not None
        self.tables = tables
        self.pitch = nn.Linear(hidden_size, N_PITCHES)
        if tables is not None:
            self.step = nn.Linear(hidden_size, tables.size("step"))
            self.duration = nn.Linear(hidden_size, tables.size("duration"))
        else:
            self.timing = nn.Linear(hidden_size, 2)  # step and duration, in beats
        self.track = nn.Linear(hidden_size, config.n_tracks) if config.n_tracks > 1 else None
        self.velocity: nn.Module | None = None
        if config.velocity is not None and config.heads.velocity == "readout":
            width = config.heads.width or hidden_size
            grad = config.heads.velocity_grad
            self.velocity = VelocityReadout(hidden_size, width, tables.size(VELOCITY), grad)
        elif config.velocity is not None:
            self.velocity = nn.Linear(hidden_size, tables.size(VELOCITY))

    def forward(
        self, h: torch.Tensor, targets: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """``h`` of shape ``(..., H)`` -> each field's logits ``(..., V)`` (regression: the
        step and duration in beats, ``(...)``). ``targets`` are not read: no head here
        depends on another field."""
        out = {"pitch": self.pitch(h)}  # (..., 128)
        if self.categorical:
            out["step"], out["duration"] = self.step(h), self.duration(h)  # (..., C)
        else:
            timing = self.timing(h)  # (..., 2)
            out["step"], out["duration"] = timing[..., 0], timing[..., 1]
        if self.track is not None:
            out["track"] = self.track(h)  # (..., n_tracks)
        if self.velocity is not None:
            out[VELOCITY] = self.velocity(h)  # (..., n_velocity_classes)
        return out

    def draw(self, h: torch.Tensor, pick: Pick) -> dict[str, torch.Tensor]:
        """One next note per row of ``h`` ``(B, H)``: ``{field: (B,)}`` (module docstring)."""
        logits = self(h)
        drawn: dict[str, torch.Tensor] = {}
        if pick.track_first and "track" in logits:
            drawn = _track_then_pitch(logits, pick)
        for field in ORDER:
            if field in drawn or (field == VELOCITY and field not in logits):
                continue
            if field not in logits:  # one track: the only one
                drawn[field] = torch.zeros(h.shape[0], dtype=torch.int64, device=h.device)
            elif field in TIME_FIELDS and not self.categorical:
                drawn[field] = logits[field].clamp_min(0.0)  # regressed beats
            else:
                drawn[field] = pick(field, logits[field], drawn)
        return decode_fields(drawn, self.tables)


def _track_then_pitch(logits: dict[str, torch.Tensor], pick: Pick) -> dict[str, torch.Tensor]:
    """The track, then the pitch under the track's rule, each with the random numbers it
    takes in ``ORDER`` (pitch first): a provisional pitch draw advances the generator past
    the pitch's numbers, the track takes the next ones, and the pitch is drawn again from the
    saved state, now seeing the track."""
    generator = pick.generator
    before = generator.get_state()
    pick("pitch", logits["pitch"], {})  # only to pass the pitch's numbers
    track = pick("track", logits["track"], {})
    after = generator.get_state()
    generator.set_state(before)
    pitch = pick("pitch", logits["pitch"], {"track": track})
    generator.set_state(after)
    return {"pitch": pitch, "track": track}
