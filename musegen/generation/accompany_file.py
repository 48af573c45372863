"""``musegen.generate accompany=song.mid keep=[Piano,Guitar] tracks=[Drums,Bass]``: a user's
MIDI file accompanied (``generation.accompany``), with every input checked in one line.

The kept tracks are read from the whole file and written out unchanged; the model draws the
``tracks`` around them (default: its tracks the file does not keep). ``accompany_from=N``
primes it with the file's own first N bars (every modelled track: the real accompaniment
too). The piece plays at the file's tempo, with its changes. A file longer than
``accompany.MAX_BARS`` bars is cut there, with a notice in the log and in generation.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from musegen.checks import at_least
from musegen.data.performance import DEFAULT_QPM, excerpt, from_steps
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS, among
from musegen.errors import UserError
from musegen.generation.accompany import MAX_BARS, accompany, split_piece
from musegen.generation.continuation import DecodeOptions

log = logging.getLogger(__name__)


class AccompanyError(UserError):
    """An accompaniment that cannot be made as asked (one line: what, and what to do)."""


@dataclass
class Piece:
    """A piece to write: its notes, how many of them prime it, its tempo map and whence."""

    notes: np.ndarray
    primer_len: int
    tempo: np.ndarray
    tempo_source: str
    song: str | None


def _names(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]


def resolve_tracks(
    keep: Any, draw: Any, model: list[str], in_file: list[str]
) -> tuple[list[str], list[str]]:
    """The kept and drawn tracks (LPD-5 names), checked: each a track of the model, none in
    both, at least one kept track in the file and one to draw."""
    kept = among(_names(keep), model, "keep")
    drawn = among(_names(draw), model, "tracks")
    if not kept:
        kept = [t for t in model if t in in_file and t not in drawn]
    if not drawn:
        drawn = [t for t in model if t not in kept]
    both = sorted(set(kept) & set(drawn))
    if both:
        raise AccompanyError(
            f"keep and tracks both name {', '.join(both)}: a track is either kept from the "
            "file or drawn by the model"
        )
    present = [t for t in kept if t in in_file]
    if not present:
        raise AccompanyError(
            f"accompany: the file has none of the kept tracks [{', '.join(kept)}]; it has "
            f"[{', '.join(in_file) or 'no notes on the model tracks'}]: set keep=[...]"
        )
    if not drawn:
        raise AccompanyError("tracks: nothing left to draw; keep fewer tracks")
    return present, drawn


def accompaniments(
    cfg: DictConfig, run: Any, options: DecodeOptions
) -> tuple[list[Piece], dict[str, Any]]:
    """``cfg.num_samples`` accompaniments of ``cfg.accompany`` (seeds ``seed``,
    ``seed + 1``, ...) and what generation.json records of them."""
    from musegen.data.midi_to_lpd import midi_to_song

    path = Path(str(cfg.accompany)).expanduser()
    if not path.is_file():
        raise AccompanyError(f"accompany: {path} is not a file; give a MIDI file")
    start = at_least(cfg.get("accompany_from", 0), "accompany_from", 0)
    song = midi_to_song(path)
    notes = song_to_notes(song, run.track_ids)
    model = [LPD5_TRACKS[t] for t in run.track_ids]
    in_file = [LPD5_TRACKS[t] for t in np.unique(notes["track"]).tolist()]
    kept, drawn = resolve_tracks(cfg.get("keep"), cfg.get("tracks"), model, in_file)
    bar = 4 * options.resolution
    primer, given, cut = split_piece(notes, [LPD5_TRACKS.index(t) for t in kept], start, bar)
    if cut:
        log.warning("accompany: %s is longer than %d bars; accompanied up to there", path, MAX_BARS)
    tempo = from_steps(song.tempo)
    source = (
        "the accompanied file"
        if song.extra.get("tempo_events")
        else (f"the accompanied file has no tempo: MIDI's default {DEFAULT_QPM:g} qpm")
    )
    end = int(given["time"].max()) + 1 if len(given) else 1
    tempo = excerpt(tempo, 0, end)
    pieces = []
    for i in range(int(cfg.num_samples)):
        drawn_options = replace(options, tracks=tuple(drawn), seed=options.seed + i)
        piece = accompany(run.net, primer, given, run.track_ids, drawn_options, run.performance)
        pieces.append(Piece(piece, len(primer), tempo, source, path.name))
    extra = {
        "accompany": path.name,
        "tracks": drawn,
        "keep": kept,
        "accompany_from": start,
        "kept_notes": len(given),
        "cut_at_bar": MAX_BARS if cut else None,
    }
    return pieces, extra
