"""Fixed-length note windows over one split's memory-mapped columns.

A window is ``length`` consecutive notes of one song (it never crosses a song boundary).
No Python object exists per window: window ``i`` is found from per-song window counts with
``np.searchsorted``, and a whole batch is gathered with one fancy index per column
(``__getitems__``, which torch's DataLoader calls with the batch's indices).

Training windows can be transposed (``transpose=k``): each window's pitched notes move by
one random number of semitones in ``[-k, k]``, drums never (their "pitch" names an
instrument), and never past the MIDI range. Music in any key is music, so the model sees up
to ``2k + 1`` keys of every passage; the usual augmentation of symbolic-music models (Music
Transformer, MMT). A batch's shifts are drawn from ``(seed, epoch, its first window)``
alone (``EpochIndices`` brings the epoch): the same in a DataLoader worker or not, and in a
run resumed mid-epoch as in one never stopped, since no generator state has to outlive a
batch (a checkpoint holds none).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from musegen.data.ahead import AHEAD_NOTES, kept_tracks, next_kept, track_bits
from musegen.data.batches import derived_seed
from musegen.data.note_cache import NoteSplit
from musegen.data.streams import StreamIndices
from musegen.data.tracks import IS_DRUM
from musegen.fields import BATCH_COLUMNS

FLOAT_COLUMNS = ("step", "duration")  # beats; the rest are integers (time: onset in steps)
FEATURES: dict[str, torch.dtype] = {
    name: torch.float32 if name in FLOAT_COLUMNS else torch.int64 for name in BATCH_COLUMNS
}
"""The batch's tensors (``fields.BATCH_COLUMNS``), each of shape (B, length)."""
TRANSPOSE_STREAM = 3
"""``derived_seed``'s stream of the transpositions (1: the training order, 2: dropout)."""
AHEAD_STREAM = 5
"""``derived_seed``'s stream of the kept tracks of ``data.ahead`` (4: the streams' order)."""


class EpochIndices(list):
    """A batch's window indices and the training epoch they are drawn for (``epoch``): a
    list, as the DataLoader hands it to ``__getitems__``, also across to its workers."""

    def __init__(self, indices: list[int], epoch: int) -> None:
        super().__init__(indices)
        self.epoch = int(epoch)


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
    seed : int
        Seeds the transpositions, with the epoch and the batch (module docstring).
    ahead : float
        Share of the windows that keep some tracks and read the next kept note after each
        note (``data.ahead``: ``ahead_gap``, ``ahead_pitch``, ``ahead_track`` and
        ``kept_tracks`` in the batch); 0: no such columns.
    """

    def __init__(
        self,
        split: NoteSplit,
        length: int,
        stride: int,
        track_lut: np.ndarray,
        transpose: int = 0,
        seed: int = 0,
        ahead: float = 0.0,
    ) -> None:
        if length < 2:
            raise ValueError(f"window length must be >= 2, got {length}")
        if stride < 1:
            raise ValueError(f"data.window_stride must be >= 1, got {stride}")
        if not 0 <= transpose <= 12:
            raise ValueError(f"data.transpose must be 0..12 semitones, got {transpose}")
        if not 0.0 <= ahead <= 1.0:
            raise ValueError(f"data.ahead must be a share in [0, 1], got {ahead}")
        self.transpose, self.seed, self.ahead = int(transpose), int(seed), float(ahead)
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
        """A batch of windows by index; or, for a ``StreamIndices`` (``data.streams``), of
        the windows starting at its notes, with ``reset`` ``(B,)``: the rows that start a
        song (a stream's song keeps one transposition from window to window)."""
        stream = isinstance(indices, StreamIndices)
        first = np.asarray(indices, dtype=np.int64) if stream else self.starts(np.asarray(indices))
        rows = first[:, None] + self._span  # (B, L)
        cols = self.split.columns
        batch = {}
        for name, dtype in FEATURES.items():
            values = np.asarray(cols[name][rows.ravel()]).reshape(rows.shape)  # (B, L)
            if name == "track":
                pitched = ~IS_DRUM[values]  # (B, L), from the LPD track ids
                values = self.track_lut[values]
            batch[name] = torch.from_numpy(
                values.astype(np.int64 if dtype == torch.int64 else np.float32, copy=False)
            )
        shift = None
        if self.transpose:
            shift = self.song_shifts(indices) if stream else self.shifts(indices)
            moved = torch.from_numpy(pitched)
            shift = limited(batch["pitch"], moved, shift)  # (B, 1), kept for the notes ahead
            batch["pitch"] = torch.where(moved, batch["pitch"] + shift, batch["pitch"])
        if self.ahead:
            batch.update(self.kept_ahead(indices, first, shift))
        if stream:
            batch["reset"] = torch.from_numpy(indices.resets.copy())  # (B,)
        return batch

    def kept_ahead(
        self, indices: list[int], first: np.ndarray, shift: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """The kept tracks of each window, drawn from ``(seed, epoch, first window)``, and
        the next kept note after each of its notes (``data.ahead``), looked for up to
        ``AHEAD_NOTES`` notes past the window within its song, transposed with it."""
        last = self.split.offsets[np.searchsorted(self.split.offsets, first, side="right")] - 1
        rows = first[:, None] + np.arange(self.length + AHEAD_NOTES)  # (B, L + E)
        inside = torch.from_numpy(rows <= last[:, None])
        rows = np.minimum(rows, last[:, None])
        cols = self.split.columns
        ids = np.asarray(cols["track"][rows.ravel()]).reshape(rows.shape)
        track = torch.from_numpy(self.track_lut[ids].astype(np.int64))
        time = torch.from_numpy(np.asarray(cols["time"][rows.ravel()], dtype=np.int64))
        pitch = torch.from_numpy(np.asarray(cols["pitch"][rows.ravel()], dtype=np.int64))
        time, pitch = time.reshape(rows.shape), pitch.reshape(rows.shape)
        if shift is not None:
            pitched = torch.from_numpy(~IS_DRUM[ids])
            pitch = torch.where(pitched, (pitch + shift).clamp(0, 127), pitch)
        epoch = getattr(indices, "epoch", 0)
        counter = epoch * max(len(self), 1) + int(indices[0])
        generator = torch.Generator().manual_seed(derived_seed(self.seed, counter, AHEAD_STREAM))
        n_tracks = int(self.track_lut.max()) + 1
        kept = kept_tracks(len(first), n_tracks, self.ahead, generator)  # (B, K)
        out = next_kept(time, pitch, track, kept.gather(1, track) & inside, self.length)
        out["kept_tracks"] = track_bits(kept)[:, None].expand(-1, self.length).contiguous()
        return out

    def song_shifts(self, indices: StreamIndices) -> torch.Tensor:
        """Each row's transposition, shape=(B, 1): one per (seed, epoch, song), so that a
        stream's windows of one song stay in one key."""
        n_songs = max(self.split.n_songs, 1)
        shifts = [
            np.random.default_rng(
                derived_seed(self.seed, indices.epoch * n_songs + int(song), TRANSPOSE_STREAM)
            ).integers(-self.transpose, self.transpose + 1)
            for song in indices.songs
        ]
        return torch.tensor(shifts, dtype=torch.int64)[:, None]

    def shifts(self, indices: list[int]) -> torch.Tensor:
        """The batch's transpositions, shape=(B, 1), int64 in ``[-transpose, transpose]``:
        drawn from ``(seed, epoch, first window)`` (epoch 0 for plain index lists)."""
        epoch = getattr(indices, "epoch", 0)
        counter = epoch * max(len(self), 1) + int(indices[0])  # one per (epoch, first window)
        generator = torch.Generator().manual_seed(
            derived_seed(self.seed, counter, stream=TRANSPOSE_STREAM)
        )
        k = self.transpose
        return torch.randint(-k, k + 1, (len(indices), 1), generator=generator)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


def transposed(
    pitch: torch.Tensor, pitched: torch.Tensor, k: int, shift: torch.Tensor | None = None
) -> torch.Tensor:
    """``pitch`` (B, L) with each window's ``pitched`` notes shifted by its ``shift`` (B, 1)
    (by default one draw from ``[-k, k]`` of torch's generator), limited per window so that
    no note leaves the MIDI range 0..127."""
    if shift is None:
        shift = torch.randint(-k, k + 1, (pitch.shape[0], 1))  # (B, 1)
    return torch.where(pitched, pitch + limited(pitch, pitched, shift), pitch)


def limited(pitch: torch.Tensor, pitched: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each window's ``shift`` (B, 1) limited so that none of its ``pitched`` notes (B, L)
    leaves 0..127 (0 for a window without pitched notes)."""
    big, small = torch.iinfo(pitch.dtype).max, torch.iinfo(pitch.dtype).min
    low = torch.where(pitched, pitch, big).amin(dim=1, keepdim=True)  # (B, 1)
    high = torch.where(pitched, pitch, small).amax(dim=1, keepdim=True)
    shift = torch.minimum(torch.maximum(shift, -low), 127 - high)
    return torch.where(high >= low, shift, 0)


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Identity collate: ``__getitems__`` already returns a whole batch."""
    return batch


class SongWindows(Dataset):
    """Every note of every song scored once: windows that follow each other through a song.

    The tutorial's test pass (``NoteWindows`` with stride 1, the note after each window
    scored) runs the network over ``length`` notes for every note it scores. Here window
    ``k`` of a song starts ``k * (length - context)`` notes in, so each window re-reads the
    ``context`` notes before the ones it scores and scores the next ``length - context``: the
    network runs ``length / (length - context)`` steps per scored note (2 at the default
    ``context = length // 2``) instead of ``length``. Every note from a song's second on is
    scored exactly once, from ``context`` to ``length`` notes of context (the first window's
    notes from fewer: all the song has), as generation feeds the network (``decode``). The
    last window of a song ends at its last note; a song shorter than a window is padded.

    Batches are the dict of ``NoteWindows`` (``length + 1`` notes) plus ``score``, bool of
    shape ``(B, length)``: whether the prediction at input position ``j`` (of note
    ``j + 1``) is scored.
    """

    def __init__(self, split: NoteSplit, length: int, context: int, track_lut: np.ndarray) -> None:
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        if not 0 <= context < length:
            raise ValueError(
                f"data.eval_context must be in [0, data.seq_len) = [0, {length}), got {context}"
            )
        self.split, self.length, self.hop = split, int(length), int(length - context)
        self.track_lut = np.asarray(track_lut, dtype=np.int64)
        n = np.diff(split.offsets)  # (n_songs,) notes per song
        targets = np.maximum(n - 1, 0)  # notes with a note before them
        extra = np.maximum(targets - self.length, 0)
        per_song = np.where(targets > 0, 1 + -(-extra // self.hop), 0)  # windows per song
        song = np.repeat(np.arange(n.size), per_song)  # (n_windows,)
        k = np.arange(per_song.sum()) - np.repeat(np.cumsum(per_song) - per_song, per_song)
        start = np.minimum(k * self.hop, extra[song])  # the last window ends at the song's end
        self._first = split.offsets[song]  # (W,) the song's first note
        self._last = split.offsets[song] + n[song] - 1  # (W,) its last note
        self._start = self._first + start  # (W,) the window's first note
        # the first note (index in the song) that this window scores: after the previous
        # window's last target
        self._new = np.where(k == 0, 1, (k - 1) * self.hop + self.length + 1) + self._first
        self._span = np.arange(self.length + 1, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._start.size)

    def starts(self, indices: np.ndarray) -> np.ndarray:
        """First note (index into the split's columns) of each window, shape=(B,)."""
        return self._start[np.asarray(indices, dtype=np.int64)]

    def scored_notes(self) -> int:
        """Notes scored by a whole pass: every note of every song but its first."""
        return int(np.maximum(np.diff(self.split.offsets) - 1, 0).sum())

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = np.asarray(indices, dtype=np.int64)
        rows = self._start[idx, None] + self._span  # (B, L + 1)
        target = rows[:, 1:]  # (B, L) the note each position predicts
        score = (target >= self._new[idx, None]) & (target <= self._last[idx, None])
        rows = np.minimum(rows, self._last[idx, None])  # padding: the song's last note again
        cols = self.split.columns
        batch = {}
        for name, dtype in FEATURES.items():
            values = np.asarray(cols[name][rows.ravel()]).reshape(rows.shape)  # (B, L + 1)
            if name == "track":
                values = self.track_lut[values]
            batch[name] = torch.from_numpy(
                values.astype(np.int64 if dtype == torch.int64 else np.float32, copy=False)
            )
        batch["score"] = torch.from_numpy(score)
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}
