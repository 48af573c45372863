"""Print what an LPD npz file, a MIDI file or a folder of them holds, as one JSON object.

    python -m musegen.data.inspect PATH

Every input is seen as LPD-5 (npz files with other tracks, LPD-17 for one, are merged with
LPD's rule; MIDI files are converted on the fly), so the numbers are the ones training sees::

    {"resolution": 24, "beats": 464,
     "tracks": {"Drums": {"notes": 2098, "pitch_min": 35, "pitch_max": 57}, ...}}

A folder (searched recursively) adds ``"files"`` (how many were read) and ``"skipped"``
(``[{"path", "reason"}]``); notes and beats are summed, pitch ranges taken over all files.
Exit codes: 0 read, 1 a folder where no file could be read, 2 a bad path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from musegen.data.lpd_io import LPDFormatError, Song, read_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.midi_to_lpd import MidiReadError, midi_to_song
from musegen.data.note_timing import RESOLUTION
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS
from musegen.errors import UserError, run_reported
from musegen.pools import parallel_map

MIDI_SUFFIXES = (".mid", ".midi")
SUFFIXES = (".npz", *MIDI_SUFFIXES)


class InspectError(UserError):
    """A path that cannot be inspected (one line: which and why)."""


def load_lpd5(path: Path, resolution: int = RESOLUTION) -> Song:
    """Read an npz file (merged to LPD-5) or a MIDI file (converted) as an LPD-5 ``Song``.

    Raises
    ------
    InspectError
        The suffix is neither .npz nor a MIDI suffix, or the file cannot be read.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return merge_to_lpd5(read_lpd_npz(path))
        if suffix in MIDI_SUFFIXES:
            return midi_to_song(path, resolution)
    except (LPDFormatError, MidiReadError) as exc:
        raise InspectError(str(exc)) from None
    except Exception as exc:  # any damage is this file's problem, reported in one line
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InspectError(f"{path}: not a readable file ({text})") from None
    raise InspectError(f"{path}: not an .npz or MIDI (.mid, .midi) file")


def summarize(song: Song) -> dict:
    """Resolution, length in beats, and per LPD-5 track the note count and pitch range."""
    notes = song_to_notes(song)
    tracks = {}
    for tid, name in enumerate(LPD5_TRACKS):
        pitch = notes["pitch"][notes["track"] == tid]
        tracks[name] = {
            "notes": int(pitch.size),
            "pitch_min": int(pitch.min()) if pitch.size else None,
            "pitch_max": int(pitch.max()) if pitch.size else None,
        }
    return {
        "resolution": int(song.resolution),
        "beats": _number(song.n_steps / song.resolution),
        "tracks": tracks,
    }


def _summary_or_reason(job: tuple[Path, int]) -> dict | str:
    """One file's summary, or why it cannot be read (a pool job: it must not raise)."""
    file, resolution = job
    try:
        return summarize(load_lpd5(file, resolution))
    except InspectError as exc:
        return str(exc).removeprefix(f"{file}: ")


def inspect_path(path: Path, resolution: int = RESOLUTION, workers: int | None = None) -> dict:
    """The JSON-ready summary of a file or, recursively, a folder.

    Raises
    ------
    InspectError
        ``path`` does not exist, is a file that cannot be read, or a folder without any
        npz or MIDI file.
    """
    path = Path(path)
    if path.is_file():
        return summarize(load_lpd5(path, resolution))
    if not path.is_dir():
        raise InspectError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise InspectError(f"{path}: no .npz or MIDI (.mid, .midi) files in this folder")
    summaries, skipped = [], []
    # files are independent: all cores read them (bench.prepare: 21,425 files)
    jobs = [(file, resolution) for file in files]
    for file, result in zip(files, parallel_map(_summary_or_reason, jobs, workers), strict=True):
        if isinstance(result, str):
            skipped.append({"path": str(file), "reason": result})
        else:
            summaries.append(result)
    out = _combine(summaries)
    out["files"] = len(summaries)
    out["skipped"] = skipped
    return out


def _combine(summaries: list[dict]) -> dict:
    """Sum notes and beats over files; pitch ranges over all files; one resolution or null."""
    resolutions = {s["resolution"] for s in summaries}
    tracks = {}
    for name in LPD5_TRACKS:
        parts = [s["tracks"][name] for s in summaries]
        lows = [p["pitch_min"] for p in parts if p["pitch_min"] is not None]
        highs = [p["pitch_max"] for p in parts if p["pitch_max"] is not None]
        tracks[name] = {
            "notes": sum(p["notes"] for p in parts),
            "pitch_min": min(lows) if lows else None,
            "pitch_max": max(highs) if highs else None,
        }
    return {
        "resolution": resolutions.pop() if len(resolutions) == 1 else None,
        "beats": _number(sum(s["beats"] for s in summaries)),
        "tracks": tracks,
    }


def _number(x: float) -> int | float:
    """An integer when it is one (LPD songs are whole beats), else rounded to 1/1000 beat."""
    return int(x) if float(x).is_integer() else round(float(x), 3)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the JSON object on stdout, problems on stderr."""
    parser = argparse.ArgumentParser(
        prog="python -m musegen.data.inspect",
        description="Summarise an LPD npz file, a MIDI file or a folder of them as JSON.",
    )
    parser.add_argument("path", type=Path, help="npz file, MIDI file or folder")
    parser.add_argument(
        "--resolution", type=int, default=24, help="time steps per beat for MIDI files"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes for a folder (default: all CPUs)"
    )
    args = parser.parse_args(argv)
    if args.resolution < 1:
        parser.error(f"--resolution must be >= 1, got {args.resolution}")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    return run_reported(lambda: _inspect(args.path, args.resolution, args.workers), "inspect")


def _inspect(path: Path, resolution: int, workers: int | None = None) -> int:
    out = inspect_path(path, resolution, workers)
    print(json.dumps(out, default=_json_default))
    return 1 if out.get("files") == 0 else 0


def _json_default(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


if __name__ == "__main__":
    sys.exit(main())
