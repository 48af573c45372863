"""Step and duration as classes on LPD's time grid (``task.timing=categorical``).

LPD stores time in steps of ``1/resolution`` beat (24 a beat), so every real step and
duration is a whole number of grid steps. The classes:

* **exact** for every value up to ``exact_beats`` (16 beats, 4 bars of 4/4): one class per
  grid step, ``0..384`` for steps and ``1..384`` for durations at 24 steps a beat. Every step
  and duration of the Bach chorales and of the real LPD-5 file fits exactly; so do 99.98%
  of the Lakh MIDI notes (``tests/test_time_classes.py``);
* **coarse** beyond, one class per ``coarse_beats`` (a bar) up to ``max_beats`` (64 beats, 16
  bars): long rests and held pads, where a bar's precision is all that matters;
* values past ``max_beats`` go to the last class (overflow).

A value that is not a class value is mapped to the nearest one (ties to the shorter); those
notes are counted (``coverage``) and reported with the data. Decoding a class gives its value,
a whole number of grid steps, so generated notes land exactly on the grid.

Two other codings can be chosen (``task.time_classes``):

* ``vocabulary: musical``: the classes are the note values a listener counts in
  (``MUSICAL_BEATS``: 32nds to 16 bars, dotted and triplet ones among them; and a step of 0,
  a duration of one time step), about 20 a field instead of 385. Every step and duration is
  taken to the nearest, so the notes trained on are not the data's own: their NLL does not
  compare with the exact classes'.
* ``onset: position``: a note's onset is predicted as where it falls counted from the bar
  line before the previous note (its position in its bar, and how many bars later), not as
  the gap since the previous onset: class ``c`` is the onset ``bar(previous) + c``. The
  same events, one to one (within the classes' reach), so the note NLL compares; one wrong
  gap no longer shifts the beat of every later note, since the bar line is the reference.

MMT (Dong et al. 2023) keeps a list of "known durations" in the same spirit; NoteTuple
(Hawthorne et al. 2018) predicts time-shift and duration classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from musegen.data.note_timing import RESOLUTION
from musegen.fields import TIME_FIELDS, VELOCITY
from musegen.models.velocity_classes import VelocityClasses

FIELDS = TIME_FIELDS
VOCABULARIES = ("exact", "musical")
ONSETS = ("gap", "position")
MINIMUM = {"step": 0, "duration": 1}
"""The smallest value of each field in grid steps: a chord's notes share an onset (step 0);
no note is shorter than one step."""


@dataclass(frozen=True)
class TimeClasses:
    """The class set of one resolution (see the module docstring)."""

    resolution: int = RESOLUTION
    exact_beats: int = 16
    coarse_beats: int = 4
    max_beats: int = 64
    vocabulary: str = "exact"
    onset: str = "gap"

    def __post_init__(self) -> None:
        if self.resolution < 1 or self.coarse_beats < 1:
            raise ValueError("task.time_classes: resolution and coarse_beats must be >= 1")
        if not 0 < self.exact_beats <= self.max_beats:
            raise ValueError("task.time_classes: need 0 < exact_beats <= max_beats")
        if self.vocabulary not in VOCABULARIES:
            raise ValueError(
                f"task.time_classes.vocabulary: {self.vocabulary!r} is not one of {VOCABULARIES}"
            )
        if self.onset not in ONSETS:
            raise ValueError(f"task.time_classes.onset: {self.onset!r} is not one of {ONSETS}")
        if self.onset == "position" and self.vocabulary != "exact":
            raise ValueError(
                "task.time_classes.onset=position needs vocabulary=exact: a position in the "
                "bar is counted in time steps"
            )

    @classmethod
    def from_config(cls, config: Any) -> TimeClasses:
        words = ("vocabulary", "onset")
        return cls(**{k: v if k in words else int(v) for k, v in dict(config or {}).items()})

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def bar(self) -> int:
        """Time steps of a bar (4 beats: LPD stores no time signature)."""
        return 4 * self.resolution

    def values(self, field: str) -> np.ndarray:
        """Each class's value in grid steps, ascending: int64, shape=(n_classes,). With
        ``onset="position"`` a step class's value is the onset counted from the bar line
        before the previous note."""
        if self.vocabulary == "musical":
            musical = np.rint(np.asarray(MUSICAL_BEATS) * self.resolution).astype(np.int64)
            return np.unique(np.concatenate([[MINIMUM[field], 1], musical]))
        exact_end = self.exact_beats * self.resolution
        coarse = self.coarse_beats * self.resolution
        exact = np.arange(MINIMUM[field], exact_end + 1, dtype=np.int64)
        longer = np.arange(exact_end + coarse, self.max_beats * self.resolution + 1, coarse)
        return np.concatenate([exact, longer.astype(np.int64)])

    def size(self, field: str) -> int:
        return int(self.values(field).size)

    def lookup(self, field: str) -> np.ndarray:
        """Grid value -> class, for values ``0..max``: int64, shape=(max + 1,). Values past
        the end are clipped to it (overflow) before the lookup."""
        values = self.values(field)
        grid = np.arange(int(values[-1]) + 1, dtype=np.int64)
        right = np.clip(np.searchsorted(values, grid), 0, values.size - 1)
        left = np.clip(right - 1, 0, values.size - 1)
        nearer_left = (grid - values[left]) <= (values[right] - grid)  # ties: the shorter
        return np.where((values[right] != grid) & nearer_left, left, right)

    def encode(self, field: str, grid: np.ndarray) -> np.ndarray:
        """Grid values (int) -> class indices (int64), nearest class, overflow clipped."""
        lut = self.lookup(field)
        return lut[np.clip(np.asarray(grid, dtype=np.int64), 0, lut.size - 1)]

    def decode(self, field: str, classes: np.ndarray) -> np.ndarray:
        """Class indices -> grid values (int64)."""
        return self.values(field)[np.asarray(classes, dtype=np.int64)]

    def buckets(self, field: str) -> np.ndarray:
        """Each class's musical value, as a bucket index (int64, ``shape=(n_classes,)``,
        ascending): the nearest of ``MUSICAL_BEATS`` in log time; 0 (a chord's step) and one
        time step (a hit) are buckets of their own."""
        values = self.values(field).astype(np.float64)
        musical = np.asarray(MUSICAL_BEATS) * self.resolution
        nearest = np.abs(np.log(np.maximum(values, 1.0))[:, None] - np.log(musical)[None, :])
        raw = np.argmin(nearest, axis=1) + 2
        raw[values == 1] = 1
        raw[values == 0] = 0
        return np.unique(raw, return_inverse=True)[1].astype(np.int64)

    def coverage(self, field: str, grid: np.ndarray) -> dict[str, int]:
        """How many values are a class value (``exact``), go to a nearest class
        (``inexact``) or lie past the last class (``overflow``)."""
        grid = np.asarray(grid, dtype=np.int64)
        values = self.values(field)
        last = int(values[-1])
        overflow = int(np.count_nonzero(grid > last))
        inside = grid[(grid <= last) & (grid >= MINIMUM[field])]
        exact = int(np.count_nonzero(np.isin(inside, values)))
        return {"exact": exact, "inexact": int(grid.size - exact - overflow), "overflow": overflow}


MUSICAL_BEATS: tuple[float, ...] = (
    1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 3 / 2, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64
)  # fmt: skip
"""The note values a listener counts in, in beats: 32nd to 16 bars, dotted and triplet ones
among them (``TimeClasses.buckets``)."""

CHUNK = 1 << 22
"""Notes per chunk when a split's memory-mapped columns are counted (bounded memory)."""


def split_coverage(classes: TimeClasses, columns: dict[str, np.ndarray]) -> dict[str, int]:
    """``coverage`` of every step and duration of a split's note columns (in beats), as
    flat counts: ``step_exact``, ``step_inexact``, ``step_overflow``, ``duration_...``."""
    totals: dict[str, int] = {}
    for field in FIELDS:
        column = columns[field]
        for lo in range(0, len(column), CHUNK):
            beats = np.asarray(column[lo : lo + CHUNK], dtype=np.float64)
            grid = np.rint(beats * classes.resolution).astype(np.int64)
            for kind, count in classes.coverage(field, grid).items():
                totals[f"{field}_{kind}"] = totals.get(f"{field}_{kind}", 0) + count
    return totals


class ClassTables(torch.nn.Module):
    """The class sets' lookup tables as tensors (non-persistent buffers, rebuilt from the
    config, so checkpoints hold only weights): beats -> class and class -> beats on any
    device, vectorised; with ``velocity`` (``VelocityClasses``) the same for velocities."""

    def __init__(self, classes: TimeClasses, velocity: VelocityClasses | None = None) -> None:
        super().__init__()
        self.classes, self.velocity = classes, velocity
        self.resolution = classes.resolution
        for field in FIELDS:
            self.register_buffer(
                f"{field}_lut", torch.from_numpy(classes.lookup(field)), persistent=False
            )
            self.register_buffer(
                f"{field}_values", torch.from_numpy(classes.values(field)), persistent=False
            )
        if velocity is not None:
            starts = torch.tensor(velocity.starts, dtype=torch.int64)
            self.register_buffer("velocity_starts", starts, persistent=False)
            values = torch.tensor(velocity.values, dtype=torch.int64)
            self.register_buffer("velocity_values", values, persistent=False)

    def size(self, field: str) -> int:
        return int(getattr(self, f"{field}_values").numel())

    @property
    def position(self) -> bool:
        """Whether a step class is an onset counted from the previous note's bar line."""
        return self.classes.onset == "position"

    def classes_of(self, field: str, notes: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The class of ``field`` of each note of a targets dict (``models.objective``): what
        the loss scores and the chained heads embed. With ``onset="position"`` a step's
        class counts from the bar line before the previous note (``notes["before"]``, its
        onset in time steps)."""
        if field == "step" and self.position:
            grid = torch.round(notes["step"].double() * self.resolution).long()
            grid = grid + torch.remainder(notes["before"], self.classes.bar)
            return self.step_lut[grid.clamp(0, self.step_lut.numel() - 1)]
        return self.encode(field, notes[field])

    def place(self, note: dict[str, torch.Tensor], before: torch.Tensor) -> dict[str, torch.Tensor]:
        """A drawn note whose step was decoded as an onset class (``onset="position"``)
        with the step as the gap since ``before`` (``(B,)`` time steps), in beats."""
        if not self.position:
            return note
        counted = torch.round(note["step"] * self.resolution).long()  # from the bar line
        gap = (counted - torch.remainder(before, self.classes.bar)).clamp_min(0)
        return {**note, "step": gap.float() / self.resolution}

    def encode(self, field: str, value: torch.Tensor) -> torch.Tensor:
        """Values -> class indices (int64), same shape: beats (float, rounded to the grid
        first) for step and duration, MIDI velocities for velocity."""
        if field == VELOCITY:
            return torch.bucketize(value.long().contiguous(), self.velocity_starts, right=True)
        lut = getattr(self, f"{field}_lut")
        grid = torch.round(value.double() * self.resolution).long()
        return lut[grid.clamp(0, lut.numel() - 1)]

    def decode(self, field: str, classes: torch.Tensor) -> torch.Tensor:
        """Class indices -> beats (float32): ``value / resolution``, whose grid value
        ``rint(beats * resolution)`` comes back exactly; velocity classes -> velocities
        (int64)."""
        if field == VELOCITY:
            return self.velocity_values[classes]
        return getattr(self, f"{field}_values")[classes].float() / self.resolution
