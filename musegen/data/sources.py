"""Resolve a data config (``data=bach|lpd5|midi``) to the list of LPD-5 song files it names.

Every source ends as ``(song_id, npz_path)`` pairs; from there on all sources are the same.
The song id is what the split hashes and what genre labels refer to: the MSD track id
(``TR...``) in LPD's official tree, the file name otherwise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from musegen.errors import UserError, first_line

LPD_URL = "https://salu133445.github.io/lakh-pianoroll-dataset/dataset"
SOURCES = ("bach", "lpd5", "midi")
_MSD_ID = re.compile(r"^TR[A-Z0-9]{16}$")


class DataSourceError(UserError):
    """A data root is missing, empty or of the wrong kind (one line: what and what to do)."""


@dataclass(frozen=True)
class SongFile:
    """One song of a dataset: its stable id and its LPD npz file."""

    song_id: str
    path: Path


def lpd_song_id(path: Path, root: Path) -> str:
    """The song id of an LPD file: its MSD track folder (official tree) or its relative path.

    In ``lpd_5_cleansed/A/A/A/TRAAAGR128F425B14B/<md5>.npz`` the id is ``TRAAAGR128F425B14B``;
    in a flat folder it is the file's path relative to the root, without suffix.
    """
    if _MSD_ID.match(path.parent.name):
        return path.parent.name
    stem = path.stem
    if _MSD_ID.match(stem):
        return stem
    return path.relative_to(root).with_suffix("").as_posix()


ROOTS = {
    "lpd5": "an extracted lpd_5_cleansed or lpd_5_full folder",
    "midi": "a folder of MIDI files (searched recursively)",
}


def root_hint(source: str) -> str:
    """The one line for a source whose ``data.root`` is not set."""
    what = ROOTS.get(source, "a folder")
    return f"data.root is not set: data={source} needs data.root=<{what}>" + (
        f" (LPD-5 is at {LPD_URL})" if source == "lpd5" else ""
    )


def _existing_root(root: str | Path | None, source: str, what: str) -> Path:
    if root is None or str(root) in ("", "None", "???"):
        raise DataSourceError(root_hint(source))
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataSourceError(
            f"data.root={path} does not exist or is not a folder: data={source} expects {what}"
            + (f"; download and extract LPD-5 from {LPD_URL}" if source == "lpd5" else "")
        )
    return path


def lpd_files(root: str | Path | None) -> list[SongFile]:
    """Songs of an extracted ``lpd_5_cleansed``/``lpd_5_full`` tree or any folder of npz files."""
    path = _existing_root(root, "lpd5", ROOTS["lpd5"])
    # names starting with a dot are temporary files of an unfinished write (musegen.atomic)
    files = sorted(f for f in path.rglob("*.npz") if not f.name.startswith("."))
    if not files:
        raise DataSourceError(
            f"data.root={path} holds no .npz files: data=lpd5 expects an extracted "
            f"lpd_5_cleansed or lpd_5_full tree; get LPD-5 from {LPD_URL}"
        )
    return [SongFile(lpd_song_id(f, path), f) for f in files]


def midi_files(
    root: str | Path | None, data_dir: str | Path, workers: int | None = None, progress: bool = True
) -> list[SongFile]:
    """Songs of a MIDI folder, converted to LPD-5 once under ``data_dir/midi/<hash>``."""
    from musegen.data.convert import convert_tree

    path = _existing_root(root, "midi", ROOTS["midi"])
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    dest = Path(data_dir).expanduser().resolve() / "midi" / f"{path.name}-{digest}"
    try:
        report = convert_tree(path, dest, workers=workers, progress=progress)
    except UserError:  # already one line naming its setting (e.g. a read-only data_dir)
        raise
    except (FileNotFoundError, ValueError) as exc:  # e.g. a folder without MIDI files
        raise DataSourceError(
            f"data.root={path}: {first_line(exc)}; data=midi expects a folder of .mid/.midi files"
        ) from None
    if not report.converted and not report.existing:
        raise DataSourceError(
            f"data.root={path}: no MIDI file could be converted "
            f"({len(report.skipped)} skipped); data=midi expects a folder of .mid/.midi files"
        )
    files = sorted(f for f in dest.rglob("*.npz") if not f.name.startswith("."))
    return [SongFile(f.relative_to(dest).with_suffix("").as_posix(), f) for f in files]


def bach_files(
    data_dir: str | Path,
    max_songs: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> list[SongFile]:
    """The Bach chorales, built as LPD-5 files under ``data_dir/bach/lpd5`` on first use."""
    from musegen.data.bach import build_bach

    dest = Path(data_dir).expanduser().resolve() / "bach" / "lpd5"
    files = build_bach(dest, max_songs=max_songs, workers=workers, progress=progress)
    if not files:
        raise DataSourceError(f"no Bach chorale could be built under {dest}; see the log above")
    return [SongFile(f.stem, f) for f in files]


def resolve_songs(
    source: str,
    root: str | Path | None,
    data_dir: str | Path,
    max_songs: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> list[SongFile]:
    """All songs of a configured source (before genre filtering and ``max_songs``)."""
    if source == "bach":
        return bach_files(data_dir, max_songs=max_songs, workers=workers, progress=progress)
    if source == "lpd5":
        return lpd_files(root)
    if source == "midi":
        return midi_files(root, data_dir, workers=workers, progress=progress)
    raise DataSourceError(f"data.source: unknown source {source!r}; choose from {list(SOURCES)}")
