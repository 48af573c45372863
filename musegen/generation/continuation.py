"""The one decoding path: note arrays in (primers), note arrays out (their continuations).

``musegen.generate`` and the evaluation both call ``continue_primers``: it batches the
primers, runs ``decode.generate`` with one seeded ``torch.Generator``, and turns the tensors
back into note arrays whose ``time`` continues each primer's last onset (``note_timing``).
Drawn notes are played as the music around them is: each track at its primer's median
velocity, else at the training data's (``data.performance.Performance``); drum notes are
single hits (``sampling.DrumHits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from musegen.data.note_timing import RESOLUTION
from musegen.data.performance import Performance
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import LPD5_TRACKS
from musegen.generation.decode import TRAINED, check_context, check_mode, generate, start_notes
from musegen.generation.notes import notes_to_tensors, tensors_to_notes
from musegen.generation.own_music import OwnMusic
from musegen.generation.sampling import DrumHits, Picker, Sampling
from musegen.generation.sounding import SoundingKeys
from musegen.progress import progress_bar

LONG = 2000
"""Generating at least this many notes a piece shows a progress bar."""


@dataclass(frozen=True)
class DecodeOptions:
    """How notes are drawn.

    Attributes
    ----------
    sampling : Sampling
        Temperature, top-k and top-p.
    seed : int
        Seeds the only random generator used: the same seed gives the same notes.
    mode : {"incremental", "window"}
        Carry the recurrent state (one network step per note), or re-run the last
        ``seq_len`` notes at every note (the reference code's way, kept as a baseline).
    seq_len : int, optional
        The window of ``mode="window"`` (default: the primer's length).
    resolution : int
        Time steps per beat of the notes' ``time``.
    tracks : tuple of str, optional
        Draw notes on these tracks only (LPD-5 names among the model's); None: every track.
    context : int, "trained" or None
        Incremental decoding re-reads the last ``context // 2`` notes after ``context``
        (``decode.generate``): ``"trained"`` (default) takes the network's training window,
        ``None`` carries the state through the whole piece.
    drum_hits : bool
        A drum note is one hit, one time step long (``sampling.DrumHits``); False keeps the
        drum durations as drawn (how musegen drew them before the rule, for comparison).
    no_repeats : bool
        No note restarts a key still sounding on its track (``generation.sounding``): the
        step is drawn among those that wait for the key; False draws it as the network says.
    """

    sampling: Sampling = field(default_factory=Sampling)
    seed: int = 0
    mode: str = "incremental"
    seq_len: int | None = None
    resolution: int = RESOLUTION
    tracks: tuple[str, ...] | None = None
    context: int | str | None = TRAINED
    drum_hits: bool = True
    no_repeats: bool = True

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_context(self.context)


def buckets(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The musical value of each step and duration class of ``net`` (none with regressed
    timing), for rules that draw them in two stages (``sampling.Picker``)."""
    tables = getattr(net, "tables", None)
    if tables is None:
        return {}
    fields = ("duration",) if tables.position else ("step", "duration")  # a position: no value
    return {f: torch.from_numpy(tables.classes.buckets(f)) for f in fields}


def continue_primers(
    net: torch.nn.Module,
    primers: Sequence[np.ndarray],
    num_notes: int,
    track_ids: Sequence[int],
    options: DecodeOptions | None = None,
    stop_time: int | None = None,
    performance: Performance | None = None,
) -> list[np.ndarray]:
    """Generate ``num_notes`` notes after each primer, all primers as one batch.

    Parameters
    ----------
    net : NoteNet
    primers : sequence of ndarray, NOTE_DTYPE, all of one length (0: from scratch)
        ``track`` holds LPD-5 ids, which must be among ``track_ids``.
    track_ids : sequence of int
        The network's tracks as LPD-5 ids, in its own order.
    stop_time : int, optional
        Stop once every piece has reached this onset (time steps; ``decode.generate``).
    performance : Performance, optional
        The velocity of tracks a primer does not play (default: ``Performance()``'s).

    Returns
    -------
    list of ndarray, shape=(num_notes,), NOTE_DTYPE
        The continuations only; ``time`` continues each primer's last onset (0 without one).
    """
    options = options or DecodeOptions()
    lengths = {len(p) for p in primers}
    if len(lengths) != 1:
        raise ValueError(f"primers must have one length to be decoded as a batch, got {lengths}")
    device = next(net.parameters()).device
    if lengths == {0}:
        tensors = start_notes(len(primers), device)
    else:
        tensors = notes_to_tensors(primers, track_ids, device)
    generator = torch.Generator(device=device).manual_seed(int(options.seed))
    names = net.config.track_names or [LPD5_TRACKS[t] for t in track_ids]
    drums = DrumHits.of(net, options.resolution) if options.drum_hits else None
    tables = getattr(net, "tables", None)
    keys = None
    if tables is not None and (options.no_repeats or tables.position):
        keys = SoundingKeys(
            tables.step_values,
            tables.resolution,
            max(net.n_tracks, 1),
            bar=tables.classes.bar if tables.position else None,
            repeats=not options.no_repeats,
        )
    pick = Picker(
        options.sampling,
        generator,
        names,
        options.tracks,
        drums,
        buckets(net),
        keys,
        own=OwnMusic.of(net),
    )
    long = num_notes >= LONG and stop_time is None  # a long piece, not a fixed number of bars
    with progress_bar(int(num_notes), "Generating notes", enabled=long) as bar:
        out = generate(
            net,
            tensors,
            int(num_notes),
            pick,
            mode=options.mode,
            seq_len=options.seq_len,
            resolution=options.resolution,
            stop_time=stop_time,
            progress=bar.advance,
            context=options.context,
        )
    starts = [int(p["time"][-1]) if len(p) else 0 for p in primers]
    performance = performance or Performance()
    velocity = np.stack([performance.velocities(p) for p in primers])  # (B, 5)
    return tensors_to_notes(out, track_ids, options.resolution, starts, velocity)


def pieces_from_scratch(
    net: torch.nn.Module,
    count: int,
    bars: int,
    track_ids: Sequence[int],
    options: DecodeOptions | None = None,
    max_notes_per_bar: int = 128,
    beats_per_bar: int = 4,
    performance: Performance | None = None,
) -> list[np.ndarray]:
    """``count`` pieces of ``bars`` bars, each drawn from the start note alone, as one batch.

    Decoding stops when every piece has passed its last bar (at most ``max_notes_per_bar``
    notes a bar); each piece keeps the notes that start inside its bars.
    """
    options = options or DecodeOptions()
    end = bars * beats_per_bar * options.resolution
    primers = [np.empty(0, dtype=NOTE_DTYPE) for _ in range(count)]
    pieces = continue_primers(
        net, primers, bars * max_notes_per_bar, track_ids, options, end, performance
    )
    return [p[p["time"] < end] for p in pieces]
