"""Fixed-length note windows over one split's memory-mapped columns.

A window is ``length`` consecutive notes of one song (it never crosses a song boundary).
No Python object exists per window: window ``i`` is found from per-song window counts with
``np.searchsorted``, and a whole batch is gathered with one fancy index per column
(``__getitems__``, which torch's DataLoader calls with the batch's indices).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from musegen.data.note_cache import NoteSplit

FEATURES: dict[str, torch.dtype] = {
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
    """

    def __init__(self, split: NoteSplit, length: int, stride: int, track_lut: np.ndarray) -> None:
        if length < 2:
            raise ValueError(f"window length must be >= 2, got {length}")
        if stride < 1:
            raise ValueError(f"data.window_stride must be >= 1, got {stride}")
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
                values = self.track_lut[values]
            batch[name] = torch.from_numpy(
                values.astype(np.int64 if dtype == torch.int64 else np.float32, copy=False)
            )
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Identity collate: ``__getitems__`` already returns a whole batch."""
    return batch
