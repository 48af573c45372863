"""Fixed-length note windows over one split's memory-mapped columns.

A window is ``length`` consecutive notes of one song (it never crosses a song boundary).
No Python object exists per window: window ``i`` is found from per-song window counts with
``np.searchsorted``, and a whole batch is gathered with one fancy index per column
(``__getitems__``, which torch's DataLoader calls with the batch's indices).

Training windows can be transposed (``transpose=k``): each window's pitched notes move by
one random number of semitones in ``[-k, k]``, drums never (their "pitch" names an
instrument), and never past the MIDI range. Music in any key is music, so the model sees up
to ``2k + 1`` keys of every passage; the usual augmentation of symbolic-music models (Music
Transformer, MMT). The shifts come from torch's global generator, which
``seed_everything`` seeds and a checkpoint restores (``ResumableRandomness``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from musegen.data.note_cache import NoteSplit
from musegen.data.tracks import LPD5_IS_DRUM

_IS_DRUM = np.asarray(LPD5_IS_DRUM, dtype=bool)

FEATURES: dict[str, torch.dtype] = {
    "time": torch.int64,  # onset in time steps: where in the bar a note falls
    "pitch": torch.int64,
    "step": torch.float32,
    "duration": torch.float32,
    "velocity": torch.int64,
    "track": torch.int64,
}
"""The batch's tensors, each of shape (B, length)."""


class NoteWindows(Dataset):
    """Windows of ``length`` notes with hop ``stride``, as dicts of tensors.

    Parameters
    ----------
    split : NoteSplit
        The split's cached notes.
    length : int
        Notes per window (``seq_len + 1``: the inputs and the next note).
    stride : int
        Hop between consecutive window starts within a song.
    track_lut : ndarray, shape=(5,), int64
        Maps LPD-5 track ids to the model's track indices 0..n_tracks-1.
    transpose : int
        Largest random transposition in semitones (0: none; training windows only).
    """

    def __init__(
        self,
        split: NoteSplit,
        length: int,
        stride: int,
        track_lut: np.ndarray,
        transpose: int = 0,
    ) -> None:
        if length < 2:
            raise ValueError(f"window length must be >= 2, got {length}")
        if stride < 1:
            raise ValueError(f"data.window_stride must be >= 1, got {stride}")
        if not 0 <= transpose <= 12:
            raise ValueError(f"data.transpose must be 0..12 semitones, got {transpose}")
        self.transpose = int(transpose)
        self.split, self.length, self.stride = split, int(length), int(stride)
        self.track_lut = np.asarray(track_lut, dtype=np.int64)
        song_len = np.diff(split.offsets)
        per_song = np.where(song_len >= length, (song_len - length) // stride + 1, 0)
        self._ends = np.cumsum(per_song)  # (n_songs,) windows up to and including song s
        self._before = self._ends - per_song  # (n_songs,) windows before song s
        self._span = np.arange(self.length, dtype=np.int64)  # (L,)

    def __len__(self) -> int:
        return int(self._ends[-1]) if self._ends.size else 0

    def starts(self, indices: np.ndarray) -> np.ndarray:
        """First note (index into the split's columns) of each window, shape=(B,)."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"window index out of range [0, {len(self)})")
        song = np.searchsorted(self._ends, indices, side="right")  # (B,)
        return self.split.offsets[song] + (indices - self._before[song]) * self.stride

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        rows = self.starts(np.asarray(indices))[:, None] + self._span  # (B, L)
        cols = self.split.columns
        batch = {}
        for name, dtype in FEATURES.items():
            values = np.asarray(cols[name][rows.ravel()]).reshape(rows.shape)  # (B, L)
            if name == "track":
                pitched = ~_IS_DRUM[values]  # (B, L), from the LPD track ids
                values = self.track_lut[values]
            batch[name] = torch.from_numpy(
                values.astype(np.int64 if dtype == torch.int64 else np.float32, copy=False)
            )
        if self.transpose:
            batch["pitch"] = transposed(batch["pitch"], torch.from_numpy(pitched), self.transpose)
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def transposed(pitch: torch.Tensor, pitched: torch.Tensor, k: int) -> torch.Tensor:
    """``pitch`` (B, L) with each window's ``pitched`` notes shifted by one draw from
    ``[-k, k]``, limited per window so that no note leaves the MIDI range 0..127."""
    shift = torch.randint(-k, k + 1, (pitch.shape[0], 1))  # (B, 1)
    big, small = torch.iinfo(pitch.dtype).max, torch.iinfo(pitch.dtype).min
    low = torch.where(pitched, pitch, big).amin(dim=1, keepdim=True)  # (B, 1)
    high = torch.where(pitched, pitch, small).amax(dim=1, keepdim=True)
    shift = torch.minimum(torch.maximum(shift, -low), 127 - high)
    shift = torch.where(high >= low, shift, 0)  # a window without pitched notes
    return torch.where(pitched, pitch + shift, pitch)


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Identity collate: ``__getitems__`` already returns a whole batch."""
    return batch
