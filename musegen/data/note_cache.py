"""The prepared-note cache: each split's notes as contiguous memory-mapped columns.

Layout of one cache entry ``<cache_root>/<key>/``::

    meta.json                    # written last: its presence marks a complete entry
    <split>/<column>.bin         # raw little-endian column, one value per note
    <split>/offsets.bin          # int64, shape=(n_songs + 1,): song s is [off[s], off[s+1])
    <split>/songs.json           # song ids, in the order of the offsets

The key hashes everything that changes the content (source and root, the files' names,
sizes and mtimes, tracks, resolution, split fractions, filters, the code's CACHE_VERSION),
so a stale entry is never read: a changed config simply gets a new entry. Songs are streamed
from worker processes straight to disk, so memory stays bounded for the full LPD (174,154
songs); an entry is built in a temporary folder and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from musegen.data.lpd_io import LPDFormatError, read_lpd_npz
from musegen.data.lpd_merge import merge_to_lpd5
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.data.sources import SongFile
from musegen.data.splits import SPLITS, assign_splits
from musegen.progress import progress_bar

CACHE_VERSION = 1
"""Bump whenever note extraction or the layout changes: every old entry becomes stale."""

COLUMNS: tuple[str, ...] = tuple(NOTE_DTYPE.names or ())


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


def _song_notes(args: tuple[str, list[int]]) -> tuple[np.ndarray | None, str | None]:
    """Worker: one LPD file -> its notes on the chosen tracks, or an error line."""
    path, track_ids = args
    try:
        return song_to_notes(merge_to_lpd5(read_lpd_npz(path)), track_ids), None
    except (LPDFormatError, ValueError, IndexError, OSError) as exc:
        return None, f"{path}: {exc}"


def _iter_notes(
    files: Sequence[SongFile], track_ids: list[int], workers: int
) -> Iterator[tuple[np.ndarray | None, str | None]]:
    jobs = [(str(f.path), track_ids) for f in files]
    if workers <= 1 or len(jobs) < 8:
        yield from map(_song_notes, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        # map() keeps the order of the songs; chunks keep the inter-process traffic low
        yield from pool.map(_song_notes, jobs, chunksize=16)


def build_cache(
    files: Sequence[SongFile],
    entry: Path,
    track_ids: list[int],
    fractions: Sequence[float],
    workers: int | None = None,
    progress: bool = True,
    spec: dict | None = None,
) -> Path:
    """Extract the notes of ``files`` into the cache entry folder ``entry`` (atomically)."""
    entry = Path(entry)
    entry.parent.mkdir(parents=True, exist_ok=True)
    split_of = assign_splits((f.song_id for f in files), fractions)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is meant to be shared
    try:
        handles = {}
        for split in SPLITS:
            (tmp / split).mkdir()
            handles[split] = {c: open(tmp / split / f"{c}.bin", "wb") for c in COLUMNS}
        offsets: dict[str, list[int]] = {s: [0] for s in SPLITS}
        ids: dict[str, list[str]] = {s: [] for s in SPLITS}
        skipped: list[str] = []
        n_workers = max(1, workers or os.cpu_count() or 1)
        with progress_bar(len(files), "Preparing notes (cached)", enabled=progress) as bar:
            results = _iter_notes(files, track_ids, n_workers)
            for f, split_idx, (notes, err) in zip(files, split_of, results, strict=True):
                bar.advance()
                if notes is None:
                    skipped.append(str(err))
                    continue
                split = SPLITS[int(split_idx)]
                for c in COLUMNS:
                    handles[split][c].write(np.ascontiguousarray(notes[c]).tobytes())
                offsets[split].append(offsets[split][-1] + len(notes))
                ids[split].append(f.song_id)
        for split in SPLITS:
            for fh in handles[split].values():
                fh.close()
            np.asarray(offsets[split], dtype=np.int64).tofile(tmp / split / "offsets.bin")
            (tmp / split / "songs.json").write_text(json.dumps(ids[split]))
        meta = {
            "version": CACHE_VERSION,
            "columns": {c: NOTE_DTYPE[c].str for c in COLUMNS},
            "splits": {s: {"songs": len(ids[s]), "notes": offsets[s][-1]} for s in SPLITS},
            "track_ids": list(track_ids),
            "skipped": skipped,
            "spec": spec or {},
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        if entry.exists():  # a concurrent builder finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry


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

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_columns"] = None
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


def open_or_build(
    files: Sequence[SongFile],
    cache_root: str | Path,
    spec: dict,
    track_ids: list[int],
    fractions: Sequence[float],
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Return the cache entry for ``spec`` and ``files``, building it if absent or stale."""
    entry = Path(cache_root) / cache_key(spec, files)
    if not (entry / "meta.json").exists():
        if entry.exists():  # a folder without meta.json is not a finished entry
            shutil.rmtree(entry, ignore_errors=True)
        build_cache(files, entry, track_ids, fractions, workers, progress, spec)
    return entry
