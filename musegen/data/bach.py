"""The embedded default dataset: J.S. Bach's chorales from music21's corpus, as LPD-5 files.

A fresh install has no LPD-5 (a multi-GB download), but music21 ships ~400 Bach chorales.
They go through the same path as any MIDI collection: music21 writes each chorale as MIDI,
``midi_to_lpd`` turns it into an LPD-5 song (music21 gives every part program 0, so all
voices land in the Piano track), and ``lpd_io`` writes it. Each file is written atomically
and a marker is written last, so an interrupted build resumes and never yields a
half-written file; simultaneous runs build it once (``atomic.exclusive``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from musegen.atomic import clean_stale, exclusive, scratch_path, write_bytes_atomic
from musegen.data.lpd_io import write_lpd_npz
from musegen.data.note_timing import RESOLUTION
from musegen.pools import parallel_map
from musegen.progress import progress_bar

log = logging.getLogger(__name__)

MARKER = ".complete.json"
BUILD_VERSION = 2
"""Bump when the build's output changes (2: one file per chorale id, MusicXML first): a
folder built by another version is built again."""
LOCK = ".build.lock"
EXTENSIONS = (".mxl", ".xml", ".musicxml", ".krn")


def chorale_sources() -> list[Path]:
    """Paths of the Bach chorales in music21's corpus, one per chorale, sorted by name.

    Only score formats are taken (MusicXML, Humdrum); music21 also keeps Roman-numeral
    analyses (``.rntxt``) of some chorales there, which are not music to learn from. Three
    chorales (BWV 277, 281, 366) come both as MusicXML and as Humdrum: the MusicXML one is
    taken (``EXTENSIONS`` order), so each song id names one file and the build is the same
    on every run.
    """
    from music21 import corpus

    paths = [Path(p) for p in corpus.getComposer("bach")]
    by_id: dict[str, Path] = {}
    for path in sorted(
        paths,
        key=lambda p: (
            EXTENSIONS.index(p.suffix.lower())
            if p.suffix.lower() in EXTENSIONS
            else len(EXTENSIONS)
        ),
    ):
        if path.suffix.lower() in EXTENSIONS:
            by_id.setdefault(_song_id(path), path)
    return sorted(by_id.values(), key=lambda p: p.name)


def _song_id(path: Path) -> str:
    return path.stem  # e.g. "bwv10.7": BWV number and movement


def _build_one(args: tuple[str, str, int]) -> tuple[str, str | None]:
    """Worker: one chorale -> MIDI (temporary) -> LPD-5 npz. Returns (id, error or None)."""
    src, dest, resolution = args
    from music21 import converter

    from musegen.data.midi_to_lpd import midi_to_song

    song_id = _song_id(Path(src))
    try:
        with scratch_path(Path(dest).with_suffix(".mid")) as midi_path:
            score = converter.parse(src)
            score.write("midi", fp=midi_path)
            song = midi_to_song(midi_path, resolution=resolution)
        song.name = song_id
        write_lpd_npz(dest, song)
        return song_id, None
    except Exception as exc:  # one bad score must not stop the build; it is reported
        return song_id, f"{type(exc).__name__}: {exc}"


def build_bach(
    dest: str | Path,
    max_songs: int | None = None,
    workers: int | None = None,
    resolution: int = RESOLUTION,
    progress: bool = True,
) -> list[Path]:
    """Write the Bach chorales as LPD-5 npz files under ``dest`` (once) and list them.

    Parameters
    ----------
    dest : path
        Output folder, e.g. ``<data_dir>/bach/lpd5``.
    max_songs : int, optional
        Build and return only the first ``max_songs`` chorales (by name): quick tests.
    workers : int, optional
        Processes; all CPUs by default.

    Returns
    -------
    list of Path
        The npz files, sorted by name.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sources = chorale_sources()
    if max_songs is not None:
        sources = sources[: int(max_songs)]
    targets = [dest / f"{_song_id(p)}.npz" for p in sources]
    clean_stale(dest)  # what a killed build left
    if not _complete(dest, resolution) and (
        _stale_build(dest) or not all(t.exists() for t in targets)
    ):
        with exclusive(dest / LOCK, waiting=f"another process is building {dest}"):
            _build_missing(sources, targets, dest, resolution, max_songs, workers, progress)
    return [t for t in targets if t.exists()]


def _complete(dest: Path, resolution: int) -> bool:
    marker = dest / MARKER
    if not marker.exists():
        return False
    built = json.loads(marker.read_text())
    return built.get("resolution") == resolution and built.get("version") == BUILD_VERSION


def _stale_build(dest: Path) -> bool:
    """A complete build by another version of this module: its files are rebuilt."""
    marker = dest / MARKER
    return marker.exists() and json.loads(marker.read_text()).get("version") != BUILD_VERSION


def _build_missing(
    sources: list[Path],
    targets: list[Path],
    dest: Path,
    resolution: int,
    max_songs: int | None,
    workers: int | None,
    progress: bool,
) -> None:
    """Build the chorales whose npz is missing (none if another process just finished)."""
    if _complete(dest, resolution):
        return
    if _stale_build(dest):  # built by another version: start again, once
        log.info("rebuilding %s (built by another version of musegen)", dest)
        for old in dest.glob("*.npz"):
            old.unlink()
        (dest / MARKER).unlink()
    todo = [
        (str(src), str(dst), resolution)
        for src, dst in zip(sources, targets, strict=True)
        if not dst.exists()
    ]
    failed: dict[str, str] = {}
    with progress_bar(len(todo), "Building Bach chorales (once)", enabled=progress) as bar:
        for song_id, err in parallel_map(_build_one, todo, workers, ordered=False, chunksize=4):
            if err:
                failed[song_id] = err
            bar.advance()
    if max_songs is None:
        summary = {
            "version": BUILD_VERSION,
            "resolution": resolution,
            "songs": len(targets),
            "failed": failed,
        }
        write_bytes_atomic(dest / MARKER, json.dumps(summary, indent=1).encode())
    for song_id, err in failed.items():
        log.warning("Bach chorale %s skipped: %s", song_id, err)
