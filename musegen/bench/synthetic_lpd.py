"""A synthetic LPD-5 tree with real statistics, for full-size benchmarks without LPD itself.

LPD-5 cleansed (21,425 songs) cannot be downloaded here, but the cost of preparing it depends
on how many files there are, how long the songs are and how many notes each track holds, not
on which notes they are. So each synthetic song is one real song (drawn at random from the
real LPD-5 file and the 150 Lakh MIDI files of ``../shared/data``, merged to LPD-5), rotated
in time by a random number of bars and with its pitched tracks transposed by a random -3..+3
semitones (drums never). Its length, and per track its note count and density, polyphony,
durations and velocities are the real song's; its pitch range is the real one moved by at
most 3 semitones. Every file differs from the others, as LPD's songs do.

Files are written by ``write_lpd_npz`` (the pypianoroll-1.x layout) in LPD's tree layout,
``<root>/A/B/C/TRABC.../<md5>.npz``.
"""

from __future__ import annotations

import hashlib
import string
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from musegen.data.lpd_io import Song, TrackRoll, read_lpd_npz, write_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.midi_to_lpd import MidiReadError, midi_to_song
from musegen.pools import parallel_map

RESOLUTION = 24
BAR = 4 * RESOLUTION
MAX_TRANSPOSE = 3


def real_songs(shared_data: Path) -> list[Song]:
    """The real LPD-5 file and every readable Lakh MIDI file of ``shared_data``, as LPD-5."""
    songs = [read_lpd_npz(p) for p in sorted((shared_data / "lpd").glob("lpd5_*.npz"))]
    for midi in sorted((shared_data / "lmd_midi").glob("*.mid")):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                songs.append(merge_to_lpd5(midi_to_song(midi, RESOLUTION)))
        except MidiReadError:
            continue
    songs = [s for s in songs if s.n_steps > 0]
    if not songs:
        raise FileNotFoundError(f"no real LPD-5 or MIDI file under {shared_data}")
    return songs


def _moved(roll: sp.csc_matrix, shift: int, n_steps: int, transpose: int) -> sp.csc_matrix:
    """``roll`` rotated by ``shift`` time steps (wrapping) and moved ``transpose`` semitones
    up (notes leaving 0..127 dropped)."""
    coo = roll.tocoo()
    rows = (coo.row.astype(np.int64) + shift) % n_steps
    cols = coo.col.astype(np.int64) + transpose
    keep = (cols >= 0) & (cols < 128)
    return sp.csc_matrix(
        (coo.data[keep], (rows[keep], cols[keep])), shape=(n_steps, 128), dtype=roll.dtype
    )


def synthetic_song(source: Song, rng: np.random.Generator, name: str) -> Song:
    """``source`` rotated by whole bars and transposed, as described above."""
    n_steps = source.n_steps
    shift = int(rng.integers(0, max(n_steps // BAR, 1))) * BAR
    transpose = int(rng.integers(-MAX_TRANSPOSE, MAX_TRANSPOSE + 1))
    tracks = [
        TrackRoll(
            t.name,
            t.program,
            t.is_drum,
            _moved(t.roll, shift, n_steps, 0 if t.is_drum else transpose),
        )
        for t in source.tracks
    ]
    return Song(name, source.resolution, tracks)


def song_path(root: Path, index: int) -> tuple[str, Path]:
    """LPD's layout for song ``index``: an 18-character MSD-like id, three letter folders."""
    letters = string.ascii_uppercase
    digits, n = [], index
    for _ in range(6):
        n, r = divmod(n, 26)
        digits.append(letters[r])
    track_id = "TR" + "".join(reversed(digits)) + f"{index:010d}"
    md5 = hashlib.md5(track_id.encode()).hexdigest()
    return track_id, root / track_id[2] / track_id[3] / track_id[4] / track_id / f"{md5}.npz"


def _write_songs(job: tuple[Path, list[int], int, list[Song]]) -> int:
    """Write the songs ``indices`` (one pool job: the sources are pickled once a job)."""
    root, indices, seed, sources = job
    for index in indices:
        rng = np.random.default_rng([seed, index])  # song i is the same whoever writes it
        track_id, path = song_path(root, index)
        source = sources[int(rng.integers(0, len(sources)))]
        write_lpd_npz(path, synthetic_song(source, rng, track_id))
    return len(indices)


def write_tree(
    root: Path,
    count: int,
    sources: list[Song],
    seed: int = 0,
    workers: int | None = None,
) -> Path:
    """Write songs ``0..count-1`` under ``root`` (those already there are kept: the same seed
    gives the same song); return ``root``."""
    root = Path(root)
    todo = [i for i in range(count) if not song_path(root, i)[1].exists()]
    size = 100
    jobs = [(root, todo[i : i + size], seed, sources) for i in range(0, len(todo), size)]
    for _ in parallel_map(_write_songs, jobs, workers, ordered=False, chunksize=1):
        pass
    return root
