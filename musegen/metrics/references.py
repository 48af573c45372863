"""Reference continuations that give the similarity its meaning, scored by the same code.

A cosine similarity of 0.81 says nothing until one knows what trivial generators score.
Each reference here is a ``Continuation``, ``(primer, n_notes, song_index) -> notes``, the
same interface a model's sampler has, so ``continuation_similarity`` scores them all alike:

* ``other_song``: the continuation of another real test song (song ``i + 1`` mod n) — how
  similar two different real pieces are.
* ``UnigramSampler``: pitch, step, duration, velocity and track drawn independently from
  their frequencies in the training notes — knows the data's statistics, not the song.
* ``UniformSampler``: pitch uniform over 0-127, track uniform over the modelled tracks,
  step and duration uniform over the training range — knows nothing (a floor).
* ``repeat_primer``: the primer's notes cycled — knows the song, nothing else.

Reading the rows (37 Lakh MIDI test songs, all five tracks, primer 64, 256 notes compared;
pitch / step / duration): real vs real 0.38 / 0.86 / 0.55, unigram 0.47 / 0.92 / 0.72,
uniform 0.25 / 0.03 / 0.01, repeat primer 0.77 / 0.97 / 0.89. So the order is not "real
first": the unigram sampler is closer to each song than another song is (the corpus
average is nearer to every song than two songs are to each other), and repeating the
primer is closest of all, since songs repeat themselves. A model is worth something where
it beats the unigram row, and a value like the paper's 0.81 needs these rows beside it.
Pitch class does not separate real from random at all (0.56 vs 0.65): a flat pitch-class
histogram has a cosine of about 0.65 with any tonal one, more than two songs in different
keys have with each other.

Every continuation is a ``NOTE_DTYPE`` array whose ``time`` continues the primer's
(``retime``). Random references draw from ``numpy.random.default_rng([seed, song_index])``,
so a song's reference does not depend on which other songs are scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from musegen.data.note_timing import RESOLUTION, continue_times, to_grid
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.fields import NOTE_FIELDS
from musegen.metrics import REAL_ROW
from musegen.metrics.similarity import Continuation, SimilarityResult, continuation_similarity

REFERENCE_ROWS: tuple[str, ...] = (REAL_ROW, "unigram", "uniform random", "repeat primer")
"""Row names of ``reference_rows``, in the order reports list them."""


def retime(notes: np.ndarray, primer: np.ndarray, resolution: int = RESOLUTION) -> np.ndarray:
    """Set ``time`` of a continuation from its steps, starting after the primer's last onset.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE
        A continuation; its ``step`` fields are kept (``step[0]`` is the gap after the
        primer's last onset).
    primer : ndarray, shape=(p,), NOTE_DTYPE
        The primer (may be empty: the continuation then starts at time 0).

    Returns
    -------
    ndarray, shape=(n,), NOTE_DTYPE
        A copy with ``time = primer.time[-1] + cumsum(rint(step * resolution))``.
    """
    out = np.array(notes, dtype=NOTE_DTYPE, copy=True)
    start = int(primer["time"][-1]) if len(primer) else 0
    out["time"] = continue_times(to_grid(out["step"], resolution), start)
    return out


def _assemble(
    pitch: np.ndarray,
    step_steps: np.ndarray,
    dur_steps: np.ndarray,
    velocity: np.ndarray,
    track: np.ndarray,
    primer: np.ndarray,
    resolution: int,
) -> np.ndarray:
    """Columns (steps and durations in time steps) -> a retimed NOTE_DTYPE continuation."""
    notes = np.empty(pitch.size, dtype=NOTE_DTYPE)
    notes["pitch"] = pitch
    notes["step"] = step_steps / resolution
    notes["duration"] = dur_steps / resolution
    notes["velocity"] = velocity
    notes["track"] = track
    return retime(notes, primer, resolution)


CHUNK = 1 << 22
"""Notes per chunk when counting training columns (a memory map may not fit in memory)."""


def _counts(column: np.ndarray, resolution: int) -> np.ndarray:
    """``bincount`` of a non-negative column, in beats put on the grid when ``resolution``."""
    total = np.zeros(0, dtype=np.int64)
    for lo in range(0, len(column), CHUNK):
        part = np.asarray(column[lo : lo + CHUNK])
        part = to_grid(part, resolution) if resolution else part.astype(np.int64)
        counts = np.bincount(np.maximum(part, 0))
        if counts.size > total.size:
            counts[: total.size] += total
            total = counts
        else:
            total[: counts.size] += counts
    return total


class _RandomSampler:
    """What both random references share: being scored as a ``Continuation``."""

    def sample(self, n: int, rng: np.random.Generator, primer: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def continuation(self, seed: int = 0) -> Continuation:
        """This sampler as a ``Continuation`` (song ``i`` draws from ``rng([seed, i])``)."""

        def generate(primer: np.ndarray, n_notes: int, index: int) -> np.ndarray:
            return self.sample(n_notes, np.random.default_rng([seed, index]), primer)

        return generate


@dataclass
class UnigramSampler(_RandomSampler):
    """Each note field drawn independently from its frequency in the training notes.

    ``values[f]`` and ``probs[f]`` (shape ``(k_f,)``) are the distinct values of field ``f``
    and their relative frequencies; step and duration values are in time steps.
    """

    values: dict[str, np.ndarray]
    probs: dict[str, np.ndarray]
    resolution: int = RESOLUTION

    FIELDS: ClassVar[tuple[str, ...]] = (*NOTE_FIELDS, "velocity")

    @classmethod
    def fit(cls, columns: Mapping[str, np.ndarray], resolution: int = RESOLUTION) -> UnigramSampler:
        """Count each field of the training notes (streamed in chunks: memory stays flat).

        Parameters
        ----------
        columns : mapping of str to ndarray, shape=(n_notes,)
            ``pitch``, ``step``, ``duration`` (beats), ``velocity`` and ``track`` (LPD-5 ids)
            of the training notes: ``datamodule.splits["train"].columns`` or a note array.
        """
        values, probs = {}, {}
        for name in cls.FIELDS:
            counts = _counts(columns[name], resolution if name in ("step", "duration") else 0)
            if counts.sum() == 0:
                raise ValueError("UnigramSampler.fit: no training notes")
            vals = np.flatnonzero(counts)
            values[name], probs[name] = vals, counts[vals] / counts.sum()
        return cls(values, probs, resolution)

    def sample(
        self, n: int, rng: np.random.Generator, primer: np.ndarray | None = None
    ) -> np.ndarray:
        """``n`` notes, fields independent; ``time`` continues ``primer`` when given."""
        draw = {f: rng.choice(self.values[f], size=n, p=self.probs[f]) for f in self.FIELDS}
        primer = np.empty(0, dtype=NOTE_DTYPE) if primer is None else primer
        return _assemble(
            draw["pitch"],
            draw["step"],
            np.maximum(draw["duration"], 1),
            draw["velocity"],
            draw["track"],
            primer,
            self.resolution,
        )


@dataclass
class UniformSampler(_RandomSampler):
    """Notes drawn uniformly: pitch over 0-127, track over the modelled tracks, step and
    duration over the training range (in time steps, both ends included), velocity 1-127.
    """

    track_ids: tuple[int, ...]
    step_range: tuple[int, int]
    duration_range: tuple[int, int]
    resolution: int = RESOLUTION

    @classmethod
    def fit(
        cls,
        columns: Mapping[str, np.ndarray],
        track_ids: Sequence[int],
        resolution: int = RESOLUTION,
    ) -> UniformSampler:
        """Take the step and duration ranges from the training notes."""
        step, dur = columns["step"], columns["duration"]
        if len(step) == 0:
            raise ValueError("UniformSampler.fit: no training notes")
        if not track_ids:
            raise ValueError("UniformSampler.fit: no track to draw from")
        # rounding is monotonic: the grid's extremes are the rounded extremes
        lo_step, hi_step = to_grid(np.array([np.min(step), np.max(step)]), resolution).tolist()
        lo_dur, hi_dur = to_grid(np.array([np.min(dur), np.max(dur)]), resolution).tolist()
        return cls(
            tuple(int(t) for t in track_ids),
            (max(lo_step, 0), max(hi_step, 0)),
            (max(lo_dur, 1), max(hi_dur, 1)),
            resolution,
        )

    def sample(
        self, n: int, rng: np.random.Generator, primer: np.ndarray | None = None
    ) -> np.ndarray:
        """``n`` uniform notes; ``time`` continues ``primer`` when given."""
        primer = np.empty(0, dtype=NOTE_DTYPE) if primer is None else primer
        return _assemble(
            rng.integers(0, 128, size=n),
            rng.integers(self.step_range[0], self.step_range[1] + 1, size=n),
            rng.integers(self.duration_range[0], self.duration_range[1] + 1, size=n),
            rng.integers(1, 128, size=n),
            rng.choice(np.asarray(self.track_ids), size=n),
            primer,
            self.resolution,
        )


def other_song(
    songs: Sequence[np.ndarray], primer_len: int, offset: int = 1, resolution: int = RESOLUTION
) -> Continuation:
    """Real vs real: song ``i`` is continued by song ``(i + offset) mod n``'s continuation.

    The other song gives ``n_notes`` notes from its own note ``primer_len`` on (earlier when
    it is too short; all its notes when it has fewer than ``n_notes``). ``songs`` must be
    the list given to ``continuation_similarity``, since ``song_index`` refers to it.
    """
    if len(songs) < 2:
        raise ValueError("real vs real needs at least 2 songs")
    if offset % len(songs) == 0:
        raise ValueError(f"offset {offset} maps every song onto itself")

    def generate(primer: np.ndarray, n_notes: int, index: int) -> np.ndarray:
        other = songs[(index + offset) % len(songs)]
        start = min(primer_len, max(0, len(other) - n_notes))
        return retime(other[start : start + n_notes], primer, resolution)

    return generate


def repeat_primer(resolution: int = RESOLUTION) -> Continuation:
    """The primer's notes cycled to ``n_notes`` (rows repeated exactly, steps included)."""

    def generate(primer: np.ndarray, n_notes: int, index: int) -> np.ndarray:
        if len(primer) == 0:
            raise ValueError("repeat primer: the primer is empty")
        return retime(np.resize(primer, n_notes), primer, resolution)

    return generate


def reference_rows(
    songs: Sequence[np.ndarray],
    train_columns: Mapping[str, np.ndarray],
    track_ids: Sequence[int],
    primer_len: int,
    max_len: int | None = None,
    seed: int = 0,
    resolution: int = RESOLUTION,
) -> dict[str, SimilarityResult]:
    """Score every reference continuation of ``songs`` (see the module docstring).

    Parameters
    ----------
    songs : sequence of ndarray, NOTE_DTYPE
        Test songs, whole.
    train_columns : mapping of str to ndarray
        Training notes' columns, to fit the unigram and uniform samplers.
    track_ids : sequence of int
        The modelled LPD-5 tracks (the uniform sampler's choices).
    primer_len, max_len
        As in ``continuation_similarity``.

    Returns
    -------
    dict of str to SimilarityResult
        Keyed by ``REFERENCE_ROWS``.
    """
    generators: dict[str, Continuation] = {
        REAL_ROW: other_song(songs, primer_len, resolution=resolution),
        "unigram": UnigramSampler.fit(train_columns, resolution).continuation(seed),
        "uniform random": UniformSampler.fit(train_columns, track_ids, resolution).continuation(
            seed
        ),
        "repeat primer": repeat_primer(resolution),
    }
    return {
        name: continuation_similarity(songs, gen, primer_len, max_len)
        for name, gen in generators.items()
    }
