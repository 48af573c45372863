"""Accompaniment: keep some tracks of a piece note for note, and draw the others around them.

The kept tracks (a user's melody and chords, say Piano and Guitar) are read from the whole
piece, not only a primer. Decoding runs in time order over both (``decode.generate`` with
``kept``), as the network's own model of a song: at every note it draws the track of the
next note among the accompaniment's and the kept ones. Where it draws a kept track (the
melody comes next), or draws an accompaniment note that starts after the next kept note,
the next kept note is fed instead, as if drawn; at a shared onset the notes go in the
training data's order (by track: a drum hit before the Piano's chord, the Bass after it).
So the bass and drums are drawn knowing every note of the melody up to their own onset, and
none after it: the plain interleaving of a left-to-right model. A network trained with
``data.ahead`` also reads, with every note, the next kept note after it (``data.ahead``,
``models.ahead_context``; the Anticipatory Music Transformer's idea of seeing the kept
notes ahead, as an input rather than by moving them in the sequence).

Letting the network choose when the kept music comes next matters: with the draws confined
to the accompaniment's tracks, every note drawn was an accompaniment note that only a kept
note starting first could displace, and the drums made 48% of the notes where the songs'
own make 20% (validation songs, 3 seeds; the whole pieces' mean OA 0.878, now 0.904:
experiments/accompaniment/lakh/README.md, "Decoding"). Where the network draws a kept track
early, in a rest of the kept music, the piece goes on at the next kept note: the drawn
parts then play fewer notes than the songs' own (about half on the test songs).

A piece can start from its own first bars (``primer_bars``: every modelled track of them,
the real accompaniment included, primes the network) or from the first bar, from the
neutral start note. The written piece is the primer, then every kept note exactly as given
and the drawn notes, in time order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from musegen.data.note_timing import to_grid
from musegen.data.performance import Performance
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import drum_track
from musegen.generation.continuation import DecodeOptions, buckets
from musegen.generation.decode import generate, start_notes
from musegen.generation.kept_music import KeptMusic
from musegen.generation.notes import notes_to_tensors
from musegen.generation.own_music import OwnMusic
from musegen.generation.sampling import DrumHits, Picker
from musegen.generation.sounding import SoundingKeys

MAX_BARS = 64
"""The most bars of a piece that are accompanied; a longer piece is cut there (the caller
says so): an accompaniment costs about as many notes as the piece, drawn one at a time."""
NOTES_PER_KEPT = 4
"""Notes drawn at most per kept note (besides ``EXTRA``): a bound, not a target; decoding
stops at the kept music's end."""
EXTRA = 256


def split_piece(
    notes: np.ndarray, keep: Sequence[int], primer_bars: int, bar: int, max_bars: int = MAX_BARS
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A piece's primer (every note of its first ``primer_bars`` bars) and its kept notes
    after it (those on the LPD-5 tracks ``keep``), cut at ``max_bars`` bars; and whether
    it was cut."""
    notes = np.asarray(notes)
    start, end = primer_bars * bar, max_bars * bar
    cut = bool(len(notes) and notes["time"].max() >= end)
    primer = notes[notes["time"] < start]
    later = notes[(notes["time"] >= start) & (notes["time"] < end)]
    return primer, later[np.isin(later["track"], list(keep))], cut


def stop_time(primer: np.ndarray, kept: np.ndarray, resolution: int) -> int:
    """The time step where an accompaniment stops: the kept music's last end (``resolution``
    steps a beat), and at least the step after the primer's last onset, so that a note drawn
    on that onset, as a chord with it, still belongs to the piece. 0 for no notes at all."""
    end = int((kept["time"] + to_grid(kept["duration"], resolution)).max()) if len(kept) else 0
    return max(end, int(primer["time"].max()) + 1 if len(primer) else 0)


def accompany(
    net: torch.nn.Module,
    primer: np.ndarray,
    kept: np.ndarray,
    track_ids: Sequence[int],
    options: DecodeOptions,
    performance: Performance | None = None,
) -> np.ndarray:
    """The piece: ``primer``, then ``kept`` (LPD-5 ids, time-ordered) note for note and the
    notes the network draws on ``options.tracks`` around them, to the end of the kept music.

    Raises
    ------
    ValueError
        ``options.tracks`` unset (the tracks to draw must be named).
    """
    if not options.tracks:
        raise ValueError("accompany: name the tracks to draw (options.tracks)")
    resolution, device = options.resolution, next(net.parameters()).device
    end = stop_time(primer, kept, resolution)
    tensors = (
        notes_to_tensors([primer], track_ids, device) if len(primer) else start_notes(1, device)
    )
    given = notes_to_tensors([kept], track_ids, device) if len(kept) else None
    generator = torch.Generator(device=device).manual_seed(int(options.seed))
    tables = getattr(net, "tables", None)
    keys = None
    bar = tables.classes.bar if tables is not None and tables.position else None
    if tables is not None and (options.no_repeats or tables.position):
        keys = SoundingKeys(tables.step_values, tables.resolution, max(net.n_tracks, 1), bar)
    drums = DrumHits.of(net, resolution) if options.drum_hits else None
    names = list(net.config.track_names or [])
    music = None
    if given is not None:  # the draw rules that read the kept music ahead
        steps = tables.step_values if tables is not None else None
        music = KeptMusic(given, resolution, drum_track(names), steps, bar)
    own = sorted({int(t) for t in kept["track"]}) if len(kept) else []
    mine = [names[i] for i, t in enumerate(track_ids) if t in own] if names else []
    sampling = options.sampling.for_accompaniment()  # with its own settings over the rest
    pick = Picker(
        sampling,
        generator,
        names,
        options.tracks,
        drums,
        buckets(net),
        keys,
        music,
        mine,
        OwnMusic.of(net),
    )
    budget = NOTES_PER_KEPT * len(kept) + EXTRA
    out = generate(
        net,
        tensors,
        budget,
        pick,
        mode=options.mode,
        seq_len=options.seq_len,
        resolution=resolution,
        stop_time=end,
        context=options.context,
        kept=given,
    )
    return _piece(out, primer, kept, track_ids, resolution, performance, end)


def _piece(
    out: dict[str, torch.Tensor],
    primer: np.ndarray,
    kept: np.ndarray,
    track_ids: Sequence[int],
    resolution: int,
    performance: Performance | None,
    end: int,
) -> np.ndarray:
    """The decoded notes as a note array after the primer: kept ones copied from ``kept``,
    drawn ones at their drawn time (velocity: drawn, else the primer's or training's)."""
    cols = {k: v[0].detach().cpu().numpy() for k, v in out.items()}
    source = cols.get("kept", np.full(len(cols["time"]), -1))
    time = cols["time"]
    inside = (time < end) | (source >= 0)
    ids = np.asarray(list(track_ids), dtype=np.uint8)
    notes = np.zeros(len(time), dtype=NOTE_DTYPE)
    notes["time"] = time
    notes["pitch"] = cols["pitch"]
    notes["duration"] = np.maximum(to_grid(cols["duration"], resolution), 1) / resolution
    notes["track"] = ids[cols["track"]]
    if "velocity" in cols:
        notes["velocity"] = np.clip(cols["velocity"], 1, 127)
    else:
        context = np.concatenate([primer, kept]) if len(kept) else primer
        notes["velocity"] = (performance or Performance()).velocities(context)[notes["track"]]
    own = source >= 0
    notes[own] = kept[source[own]]  # the given notes exactly as given
    notes = notes[inside]
    piece = np.concatenate([primer, notes])
    piece["step"][1:] = np.diff(piece["time"]) / resolution
    if len(piece):  # the first note's step: from the piece's start
        piece["step"][0] = piece["time"][0] / resolution
    return piece
