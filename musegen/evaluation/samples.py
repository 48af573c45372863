"""The sets of pieces an evaluation compares: the model's, the real ones, the controls'.

Two kinds of sample, each compared as a set against a reference set of real music from the
training songs (what the model learned from):

* **continuations**: each test song is primed with its first ``primer_len`` notes and
  continued for as many notes as the real continuation has (at most ``max_notes``);
* **from scratch**: ``scratch_samples`` pieces of ``scratch_bars`` bars drawn from the start
  note alone, against real excerpts of ``scratch_bars`` bars that begin on a bar line.

Every row of a report is a list of pieces built here by the same rules:

==========================  =============================================================
row                         pieces
==========================  =============================================================
(the model)                 its continuations / pieces from scratch
``real vs real``            the real continuations of the same test songs / real excerpts
                            of the test songs: held-out real music, the ceiling
``scrambled instruments``   those real pieces with the track labels permuted (several
                            tracks only: one track has nothing to scramble)
``key broken``              those real pieces with every bar moved to another key
``unigram``                 notes drawn field by field from the training notes' frequencies
``uniform random``          notes drawn uniformly (pitch, track, step and duration range)
``repeat primer``           the primer cycled (continuations only)
``bars shuffled``           the real pieces with their bars in a random order (form broken,
                            every bar real)
``bar looped``              one bar of each real piece repeated (far too much repetition)
==========================  =============================================================

The last two are controls of form (``FORM_ROWS``): they keep real bars, so only the
evaluation over time (``metrics.over_time``) scores them; every other row is scored by it too.

Random choices (which excerpts, which controls) come from ``numpy.random.default_rng`` seeded
with ``[seed, purpose, piece]``: a row does not change when another row's count does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musegen.data.note_cache import NoteSplit
from musegen.data.note_timing import RESOLUTION, note_onsets
from musegen.data.performance import Performance, excerpt, tempo_map
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.generation.continuation import DecodeOptions, continue_primers, pieces_from_scratch
from musegen.metrics import REAL_ROW
from musegen.metrics.bars import BarLayout
from musegen.metrics.controls import break_key, loop_bar, scramble_tracks, shuffle_bars
from musegen.metrics.references import UniformSampler, UnigramSampler, repeat_primer

CONTROL_ROWS: tuple[str, ...] = (
    REAL_ROW,
    "scrambled instruments",
    "key broken",
    "unigram",
    "uniform random",
    "repeat primer",
)
"""Rows scored beside every model, in report order (``repeat primer``: continuations only)."""

FORM_ROWS: tuple[str, ...] = ("bars shuffled", "bar looped")
"""Controls of form, scored by the evaluation over time only (after ``CONTROL_ROWS``)."""

KINDS: tuple[str, ...] = ("continuation", "scratch")

_SEEDS = {name: i for i, name in enumerate(("ref", "real", *CONTROL_ROWS, *FORM_ROWS))}


@dataclass
class SampleSet:
    """The pieces of one kind of sample: the reference and one list per row.

    ``primers[i]`` is what row piece ``i`` continues (continuations; empty arrays from
    scratch); ``sources[i]`` the scored song it came from (the real excerpt's song, from
    scratch). ``tempos[row][i]``: the tempo map piece ``i`` of ``row`` is played at (the
    model's row and real music; ``data.performance``): a continuation at its primer's tempo,
    a real piece at its own, a piece from scratch at the training songs' median.
    """

    kind: str
    reference: list[np.ndarray]
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    primers: list[np.ndarray] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    tempos: dict[str, list[np.ndarray]] = field(default_factory=dict)
    layout: BarLayout = field(default_factory=BarLayout)
    """Which bars of each piece the evaluation over time reads (``metrics.bars``)."""


def _rng(seed: int, purpose: str, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _SEEDS[purpose], index])


def note_excerpts(
    split: NoteSplit, length: int, count: int, seed: int, bar_steps: int, purpose: str = "ref"
) -> list[np.ndarray]:
    """``count`` excerpts of ``length`` consecutive notes, songs taken in turn (the longest
    ones that fit; all songs when none is long enough) at random starts."""
    lengths = np.diff(split.offsets)
    songs = np.flatnonzero(lengths >= length)
    if songs.size == 0:
        songs = np.flatnonzero(lengths > 0)
    out = []
    for i in range(count if songs.size else 0):
        song = split.song(int(songs[i % songs.size]))
        start = int(_rng(seed, purpose, i).integers(0, max(len(song) - length, 0) + 1))
        out.append(rebased(song[start : start + length], bar_steps))
    return out


def bar_excerpt(song: np.ndarray, first_bar: int, bars: int, bar_steps: int) -> np.ndarray:
    """The notes of ``song`` that start in bars ``[first_bar, first_bar + bars)``, shifted so
    that ``first_bar`` starts at time 0 (the first note's step: its offset in the bar)."""
    lo, hi = first_bar * bar_steps, (first_bar + bars) * bar_steps
    out = np.array(song[(song["time"] >= lo) & (song["time"] < hi)], copy=True)
    out["time"] -= lo
    return out


@dataclass
class Excerpts:
    """Real excerpts: the pieces, the song (index in its split) and tempo map of each."""

    pieces: list[np.ndarray] = field(default_factory=list)
    songs: list[int] = field(default_factory=list)
    tempos: list[np.ndarray] = field(default_factory=list)


def bar_excerpts(
    split: NoteSplit, bars: int, count: int, seed: int, bar_steps: int, purpose: str = "ref"
) -> Excerpts:
    """``count`` excerpts of ``bars`` bars starting on a bar line, songs taken in turn."""
    songs = np.flatnonzero(np.diff(split.offsets) > 0)
    out = Excerpts()
    for i in range(count if songs.size else 0):
        index = int(songs[i % songs.size])
        song = split.song(index)
        n_bars = int(song["time"].max()) // bar_steps + 1
        first = int(_rng(seed, purpose, i).integers(0, max(n_bars - bars, 0) + 1))
        piece = bar_excerpt(song, first, bars, bar_steps)
        if piece.size:
            out.pieces.append(rebased(piece, bar_steps))
            lo = first * bar_steps
            out.tempos.append(excerpt(split.tempo(index), lo, lo + bars * bar_steps))
            out.songs.append(index)
    return out


def rebased(notes: np.ndarray, bar_steps: int, resolution: int = RESOLUTION) -> np.ndarray:
    """A copy moved back by whole bars so that it starts in its first bar (its position in
    the bar kept), with the first step set to that position so that onsets and steps agree."""
    out = np.array(notes, copy=True)
    if out.size:
        out["time"] -= (int(out["time"][0]) // bar_steps) * bar_steps
        out["step"][0] = out["time"][0] / resolution
    return out


def cut_bars(notes: np.ndarray, bars: int, bar_steps: int) -> np.ndarray:
    """The notes of a piece that start before the end of bar ``bars``."""
    return notes[notes["time"] < bars * bar_steps]


def controls(
    real: Sequence[np.ndarray],
    primers: Sequence[np.ndarray],
    train_columns: dict,
    track_ids: Sequence[int],
    seed: int,
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
    draw: Callable[[np.ndarray], int],
    resolution: int = RESOLUTION,
) -> dict[str, list[np.ndarray]]:
    """Every control row for these real pieces (module docstring).

    A random sampler draws ``draw(real)`` notes after each primer, and ``fill(notes, real)``
    cuts them to the real piece's extent: the same number of notes for continuations, the
    same bars from scratch.
    """
    unigram = UnigramSampler.fit(train_columns, resolution)
    uniform = UniformSampler.fit(train_columns, list(track_ids), resolution)
    rows: dict[str, list[np.ndarray]] = {REAL_ROW: list(real)}
    if len(track_ids) > 1:  # one track has nothing to scramble: the row would be real music
        rows["scrambled instruments"] = [
            scramble_tracks(r, _rng(seed, "scrambled instruments", i)) for i, r in enumerate(real)
        ]
    rows |= {
        "key broken": [
            break_key(r, _rng(seed, "key broken", i), resolution) for i, r in enumerate(real)
        ]
    }
    for name, sampler in (("unigram", unigram), ("uniform random", uniform)):
        rows[name] = [
            fill(sampler.sample(draw(r), _rng(seed, name, i), p), r)
            for i, (r, p) in enumerate(zip(real, primers, strict=True))
        ]
    if any(len(p) for p in primers):
        repeat = repeat_primer(resolution)
        rows["repeat primer"] = [
            repeat(p, len(r), i) for i, (r, p) in enumerate(zip(real, primers, strict=True))
        ]
    return rows


def form_controls(
    real: Sequence[np.ndarray],
    layout: BarLayout,
    seed: int,
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> dict[str, list[np.ndarray]]:
    """The controls of form (``FORM_ROWS``) of these real pieces: their movable bars
    (``BarLayout.movable``) shuffled, or one of them looped and cut by ``fill(notes, real)``
    to the real piece's extent (its notes for continuations, its bars from scratch)."""
    res, beats = layout.resolution, layout.beats_per_bar
    spans = [layout.movable(note_onsets(r, res)) for r in real]
    return {
        "bars shuffled": [
            shuffle_bars(r, _rng(seed, "bars shuffled", i), lo, hi, res, beats)
            for i, (r, (lo, hi)) in enumerate(zip(real, spans, strict=True))
        ],
        "bar looped": [
            fill(loop_bar(r, _rng(seed, "bar looped", i), lo, hi, res, beats), r)
            for i, (r, (lo, hi)) in enumerate(zip(real, spans, strict=True))
        ],
    }


def same_notes(notes: np.ndarray, real_piece: np.ndarray) -> np.ndarray:
    """A continuation control cut to as many notes as the real continuation."""
    return notes[: len(real_piece)]


def empty_primers(count: int) -> list[np.ndarray]:
    return [np.empty(0, dtype=NOTE_DTYPE) for _ in range(count)]


def reference_split(dm: Any) -> tuple[NoteSplit, str]:
    """Where the reference set comes from: the training songs, else the validation songs,
    else (``data.split=test``: every song is a test song) the test songs themselves."""
    for name in ("train", "val", "test"):
        split = dm.splits[name]
        if split.n_notes:
            return split, name
    raise ValueError("no notes in any split to take a reference set from")


def continuation_set(
    net: Any,
    dm: Any,
    track_ids: Sequence[int],
    settings: Any,
    options: DecodeOptions,
    model_name: str,
    bar_steps: int,
    performance: Performance | None = None,
) -> SampleSet:
    """Continuations of the test songs (``settings.split``'s) by the model, the real ones and
    every control."""
    split = dm.splits[settings.split]
    lengths = np.diff(split.offsets)
    usable = np.flatnonzero(lengths > settings.primer_len)[: settings.max_songs]
    if usable.size == 0:
        raise ValueError(
            f"no {settings.split} song has more than {settings.primer_len} notes to continue"
        )
    songs = [split.song(int(i)) for i in usable]
    primers = [s[: settings.primer_len] for s in songs]
    real = [s[settings.primer_len : settings.primer_len + settings.max_notes] for s in songs]
    generated = continue_primers(
        net, primers, max(len(r) for r in real), track_ids, options, None, performance
    )
    generated = [g[: len(r)] for g, r in zip(generated, real, strict=True)]
    tempos = [split.tempo(int(i)) for i in usable]
    ref_split, _ = reference_split(dm)
    length = int(np.median([len(r) for r in real]))
    layout = BarLayout(resolution=options.resolution, beats_per_bar=bar_steps // options.resolution)
    result = SampleSet(
        "continuation",
        note_excerpts(ref_split, length, settings.reference_samples, settings.seed, bar_steps),
        primers=primers,
        layout=layout,
        sources=[int(i) for i in usable],
        tempos={  # the model plays at the tempo its primer ends on; real music at its own
            model_name: [
                excerpt(t, 0, int(p["time"][-1]) + 1) for t, p in zip(tempos, primers, strict=True)
            ],
            REAL_ROW: [
                excerpt(t, 0, int(r["time"][-1]) + 1 if len(r) else 1)
                for t, r in zip(tempos, real, strict=True)
            ],
        },
    )
    result.rows[model_name] = generated
    result.rows.update(
        controls(
            real,
            primers,
            ref_split.columns,
            track_ids,
            settings.seed,
            fill=same_notes,
            draw=len,
        )
    )
    result.rows.update(form_controls(real, layout, settings.seed, same_notes))
    return result


def scratch_set(
    net: Any,
    dm: Any,
    track_ids: Sequence[int],
    settings: Any,
    options: DecodeOptions,
    model_name: str,
    bar_steps: int,
    performance: Performance | None = None,
) -> SampleSet:
    """Pieces of ``scratch_bars`` bars from scratch, real excerpts as long, and controls."""
    bars, count = settings.scratch_bars, settings.scratch_samples
    ref_split, _ = reference_split(dm)
    excerpts = bar_excerpts(
        dm.splits[settings.split], bars, count, settings.seed, bar_steps, "real"
    )
    real = excerpts.pieces
    if not real:
        raise ValueError(f"no {settings.split} song to take real excerpts from")
    performance = performance or Performance()
    generated = pieces_from_scratch(
        net,
        count,
        bars,
        track_ids,
        options,
        beats_per_bar=bar_steps // options.resolution,
        performance=performance,
    )
    layout = BarLayout(bars, bars, options.resolution, bar_steps // options.resolution)

    def same_bars(notes: np.ndarray, real_piece: np.ndarray) -> np.ndarray:
        return cut_bars(notes, bars, bar_steps)

    result = SampleSet(
        "scratch",
        bar_excerpts(ref_split, bars, settings.reference_samples, settings.seed, bar_steps).pieces,
        primers=empty_primers(len(real)),
        layout=layout,
        sources=excerpts.songs,
        tempos={
            model_name: [tempo_map(performance.tempo)] * len(generated),
            REAL_ROW: excerpts.tempos,
        },
    )
    result.rows[model_name] = generated
    result.rows.update(
        controls(
            real,
            result.primers,
            ref_split.columns,
            track_ids,
            settings.seed,
            fill=same_bars,
            draw=lambda r: 4 * len(r) + 16,
        )
    )
    result.rows.update(form_controls(real, layout, settings.seed, same_bars))
    return result
