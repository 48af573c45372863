"""The prepared-note cache: each split's notes as contiguous memory-mapped columns.

Layout of one cache entry ``<cache_root>/<key>/``::

    meta.json                    # written last: its presence marks a complete entry
    <split>/<column>.bin         # raw little-endian column, one value per note
    <split>/offsets.bin          # int64, shape=(n_songs + 1,): song s is [off[s], off[s+1])
    <split>/songs.json           # song ids, in the order of the offsets
    <split>/tempo_{time,qpm}.bin # every song's tempo changes (performance.TEMPO_DTYPE)
    <split>/tempo_offsets.bin    # int64, shape=(n_songs + 1,): song s's changes
    <split>/main_qpm.bin         # float64, shape=(n_songs,): each song's main tempo

The key hashes everything that changes the content (source and root, the files' names,
sizes and mtimes, tracks, resolution, split fractions, filters, the code's CACHE_VERSION),
so a stale entry is never read: a changed config simply gets a new entry. Songs are streamed
from worker processes straight to disk, so memory stays bounded for the full LPD (174,154
songs); an entry is built in a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from musegen.atomic import atomic_dir, clean_stale, exclusive
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.performance import TEMPO_DTYPE, from_steps, main_qpm
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.data.sources import DataSourceError, SongFile
from musegen.data.splits import SPLITS, assign_splits
from musegen.pools import available_cpus, parallel_map
from musegen.progress import progress_bar

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""Bump whenever note extraction or the layout changes: every old entry becomes stale
(2: each song's tempo)."""

COLUMNS: tuple[str, ...] = tuple(NOTE_DTYPE.names or ())
TEMPO_COLUMNS: tuple[str, ...] = tuple(f"tempo_{c}" for c in TEMPO_DTYPE.names or ())


def files_signature(files: Sequence[SongFile]) -> str:
    """Hash of the song ids, names, sizes and modification times of the files."""
    digest = hashlib.sha1()
    for f in files:
        st = f.path.stat()
        digest.update(f"{f.song_id}\0{f.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(spec: dict, files: Sequence[SongFile]) -> str:
    """Key of a cache entry: a hash of ``spec`` (plain JSON values), the files and the version."""
    payload = json.dumps(
        {"spec": spec, "files": files_signature(files), "version": CACHE_VERSION},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


Extracted = tuple[np.ndarray, np.ndarray, float]
"""One song's notes, tempo changes (``TEMPO_DTYPE``) and main tempo (qpm)."""


def _song_notes(args: tuple[str, list[int]]) -> tuple[Extracted | None, str | None]:
    """Worker: one LPD file -> its notes on the chosen tracks and its tempo, or an error line.

    Any failure is one file's problem (LPD-5 full has 174,154 files; a damaged one must cost
    a line in the report, not the build).
    """
    path, track_ids = args
    try:
        song = merge_to_lpd5(read_lpd_npz(path))
        tempo = from_steps(song.tempo)
        return (song_to_notes(song, track_ids), tempo, main_qpm(tempo, song.n_steps)), None
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, text if text.startswith(path) else f"{path}: {text}"


def _iter_notes(
    files: Sequence[SongFile], track_ids: list[int], workers: int
) -> Iterator[tuple[Extracted | None, str | None]]:
    """Each song's notes (or error line), in the order of ``files``; chunks of 16 songs keep
    the inter-process traffic low."""
    jobs = [(str(f.path), track_ids) for f in files]
    yield from parallel_map(_song_notes, jobs, workers, ordered=True, chunksize=16, min_jobs=8)


def build_cache(
    files: Sequence[SongFile],
    entry: Path,
    track_ids: list[int],
    fractions: Sequence[float],
    workers: int | None = None,
    progress: bool = True,
    spec: dict | None = None,
) -> Path:
    """Extract the notes of ``files`` into the cache entry folder ``entry`` (atomically).

    Files that cannot be read are skipped and listed in ``meta.json`` (``skipped``).

    Raises
    ------
    DataSourceError
        Not one of ``files`` could be read.
    """
    entry = Path(entry)
    split_of = assign_splits((f.song_id for f in files), fractions)
    with atomic_dir(entry) as tmp:
        handles = {}
        for split in SPLITS:
            (tmp / split).mkdir()
            names = (*COLUMNS, *TEMPO_COLUMNS)
            handles[split] = {c: open(tmp / split / f"{c}.bin", "wb") for c in names}
        offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
        tempo_offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
        main: dict[str, list[float]] = {s: [] for s in SPLITS}
        ids: dict[str, list[str]] = {s: [] for s in SPLITS}
        skipped: list[str] = []
        n_workers = workers or available_cpus()
        with progress_bar(len(files), "Preparing notes (cached)", enabled=progress) as bar:
            results = _iter_notes(files, track_ids, n_workers)
            for f, split_idx, (song, err) in zip(files, split_of, results, strict=True):
                bar.advance()
                if song is None:
                    skipped.append(str(err))
                    continue
                notes, tempo, qpm = song
                split = SPLITS[int(split_idx)]
                for c in COLUMNS:
                    handles[split][c].write(np.ascontiguousarray(notes[c]).tobytes())
                for c, name in zip(TEMPO_DTYPE.names or (), TEMPO_COLUMNS, strict=True):
                    handles[split][name].write(np.ascontiguousarray(tempo[c]).tobytes())
                offsets[split].append(offsets[split][-1] + len(notes))
                tempo_offsets[split].append(tempo_offsets[split][-1] + len(tempo))
                main[split].append(qpm)
                ids[split].append(f.song_id)
        for split in SPLITS:
            for fh in handles[split].values():
                fh.close()
            np.asarray(offsets[split], dtype=np.int64).tofile(tmp / split / "offsets.bin")
            np.asarray(tempo_offsets[split], dtype=np.int64).tofile(
                tmp / split / "tempo_offsets.bin"
            )
            np.asarray(main[split], dtype=np.float64).tofile(tmp / split / "main_qpm.bin")
            (tmp / split / "songs.json").write_text(json.dumps(ids[split]))
        if files and len(skipped) == len(files):
            raise DataSourceError(
                f"none of the {len(files)} song files could be read (e.g. {skipped[0]}); "
                "check data.root"
            )
        meta = {
            "version": CACHE_VERSION,
            "columns": {c: NOTE_DTYPE[c].str for c in COLUMNS},
            "splits": {s: {"songs": len(ids[s]), "notes": offsets[s][-1]} for s in SPLITS},
            "track_ids": list(track_ids),
            "files": len(files),
            "skipped": skipped,
            "spec": spec or {},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    _report_skipped(skipped, len(files), entry)
    return entry


def _report_skipped(skipped: list[str], total: int, entry: Path, shown: int = 5) -> None:
    if not skipped:
        return
    log.warning(
        "skipped %d of %d song files that could not be read (all listed in %s):",
        len(skipped),
        total,
        entry / "meta.json",
    )
    for line in skipped[:shown]:
        log.warning("  %s", line)
    if len(skipped) > shown:
        log.warning("  ... and %d more", len(skipped) - shown)


class NoteSplit:
    """One split of a cache entry: memory-mapped note columns plus song boundaries.

    Nothing is read into memory up front; pickling (for DataLoader workers) carries only
    the folder, and each process maps the files again.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta = json.loads((self.folder.parent / "meta.json").read_text())
        self._dtypes = {c: np.dtype(s) for c, s in meta["columns"].items()}
        self.track_ids: list[int] = list(meta["track_ids"])
        self._columns: dict[str, np.ndarray] | None = None
        self.offsets = np.fromfile(self.folder / "offsets.bin", dtype=np.int64)
        self.song_ids: list[str] = json.loads((self.folder / "songs.json").read_text())
        self.tempo_offsets = np.fromfile(self.folder / "tempo_offsets.bin", dtype=np.int64)
        self.main_qpm = np.fromfile(self.folder / "main_qpm.bin", dtype=np.float64)
        """Each song's main tempo (``performance.main_qpm``), ``shape=(n_songs,)``."""
        self._tempo: dict[str, np.ndarray] | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_columns"] = state["_tempo"] = None
        return state

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The note columns, shape=(n_notes,) each, memory-mapped read-only."""
        if self._columns is None:
            n = int(self.offsets[-1])
            self._columns = {
                c: (
                    np.memmap(self.folder / f"{c}.bin", dtype=dt, mode="r", shape=(n,))
                    if n
                    else np.zeros(0, dtype=dt)
                )
                for c, dt in self._dtypes.items()
            }
        return self._columns

    @property
    def n_songs(self) -> int:
        return len(self.song_ids)

    @property
    def n_notes(self) -> int:
        return int(self.offsets[-1])

    def song(self, index: int) -> np.ndarray:
        """The notes of song ``index`` as a structured array (``NOTE_DTYPE``), copied."""
        lo, hi = int(self.offsets[index]), int(self.offsets[index + 1])
        out = np.empty(hi - lo, dtype=NOTE_DTYPE)
        for c, col in self.columns.items():
            out[c] = col[lo:hi]
        return out

    def tempo(self, index: int) -> np.ndarray:
        """The tempo changes of song ``index`` (``performance.TEMPO_DTYPE``), copied."""
        if self._tempo is None:
            n = int(self.tempo_offsets[-1])
            self._tempo = {
                c: np.fromfile(self.folder / f"tempo_{c}.bin", dtype=TEMPO_DTYPE[c], count=n)
                for c in TEMPO_DTYPE.names or ()
            }
        lo, hi = int(self.tempo_offsets[index]), int(self.tempo_offsets[index + 1])
        out = np.empty(hi - lo, dtype=TEMPO_DTYPE)
        for c, col in self._tempo.items():
            out[c] = col[lo:hi]
        return out


def open_or_build(
    files: Sequence[SongFile],
    cache_root: str | Path,
    spec: dict,
    track_ids: list[int],
    fractions: Sequence[float],
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Return the cache entry for ``spec`` and ``files``, building it if absent or stale.

    One process builds an entry while others asking for the same one wait and then read
    it (``atomic.exclusive``), so simultaneous runs never build it twice. Temporaries left
    by a killed build are removed here.
    """
    cache_root = Path(cache_root)
    key = cache_key(spec, files)
    entry = cache_root / key
    clean_stale(cache_root)  # a killed build's temporary folder, whichever entry it was for
    if (entry / "meta.json").exists():
        return entry
    with exclusive(cache_root / f".{key}.lock", waiting=f"another process is building {entry}"):
        if (entry / "meta.json").exists():  # built by the process we waited for
            return entry
        if entry.exists():  # a folder without meta.json is not a finished entry
            shutil.rmtree(entry, ignore_errors=True)
        return build_cache(files, entry, track_ids, fractions, workers, progress, spec)
