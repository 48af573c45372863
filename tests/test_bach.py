"""The embedded default dataset: music21's Bach chorales, built as LPD-5 files once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musegen.atomic import HOST_TAG
from musegen.data.bach import MARKER, build_bach, chorale_sources
from musegen.data.datamodule import NoteDataModule
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS


def test_corpus_has_enough_chorales() -> None:
    sources = chorale_sources()
    assert len(sources) >= 350
    assert all(p.suffix != ".rntxt" for p in sources)


def test_chorales_become_lpd5_files_with_all_voices_in_piano(bach_small: Path) -> None:
    files = build_bach(bach_small / "bach" / "lpd5", max_songs=24, progress=False)  # built
    assert len(files) == 24 and files == sorted(files)
    for path in files[:6]:
        song = read_lpd_npz(path)
        assert [t.name for t in song.tracks] == list(LPD5_TRACKS)
        assert song.resolution == 24
        notes = song_to_notes(song)
        assert len(notes) > 30
        assert set(np.unique(notes["track"])) == {1}  # program 0 -> Piano
        assert 30 <= notes["pitch"].min() and notes["pitch"].max() <= 90  # SATB range


def test_rebuild_is_skipped_and_interrupted_builds_resume(bach_small: Path) -> None:
    dest = bach_small / "bach" / "lpd5"
    files = sorted(dest.glob("*.npz"))[:3]
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert build_bach(dest, max_songs=3, progress=False) == files
    assert [f.stat().st_mtime_ns for f in files] == mtimes  # nothing rewritten
    # an interrupted build: one file missing, a half-written temporary file left behind
    files[1].unlink()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    leftover = dest / f".{files[1].name}.{HOST_TAG}-{dead}.abc123.tmp"
    leftover.write_bytes(b"PK\x03\x04 half a zip")
    assert build_bach(dest, max_songs=3, progress=False) == files
    assert read_lpd_npz(files[1]).resolution == 24
    assert not leftover.exists()  # the killed writer's temporary is gone
    assert not (dest / MARKER).exists()  # only a full build writes the marker


def test_default_datamodule_on_bach(bach_small: Path) -> None:
    dm = NoteDataModule(
        source="bach",
        data_dir=str(bach_small),
        tracks=["Piano"],
        max_songs=24,
        batch_size=8,
        progress=False,
    )
    dm.prepare_data()
    dm.setup("fit")
    summary = dm.summary()
    assert sum(s["songs"] for s in summary.values()) == 24
    batch = next(iter(dm.train_dataloader()))
    assert batch["pitch"].shape == (8, 26)
    assert int(batch["track"].max()) == 0


@pytest.mark.slow
def test_full_build_of_every_chorale(tmp_path: Path) -> None:
    """All chorales, as a fresh install's first run builds them; each file a whole song."""
    files = build_bach(tmp_path / "lpd5", progress=False)
    sources = chorale_sources()
    marker = json.loads((tmp_path / "lpd5" / MARKER).read_text())
    assert marker["songs"] == len(sources) >= 350
    assert len(files) == len(sources) - len(marker["failed"]) and len(marker["failed"]) <= 5
    lengths = [len(song_to_notes(read_lpd_npz(f))) for f in files[::40]]
    assert min(lengths) > 30


def test_one_file_per_chorale_and_a_stale_build_is_redone(tmp_path: Path) -> None:
    """Three chorales exist as MusicXML and as Humdrum: one source each (MusicXML), so a
    build never depends on which of two writers finished last. A folder built by another
    version of the build is built again."""
    sources = chorale_sources()
    stems = [p.stem for p in sources]
    assert len(stems) == len(set(stems))
    assert {p.name for p in sources if p.stem in ("bwv277", "bwv281", "bwv366")} == {
        "bwv277.mxl",
        "bwv281.mxl",
        "bwv366.mxl",
    }
    dest = tmp_path / "lpd5"
    dest.mkdir()
    (dest / MARKER).write_text(json.dumps({"resolution": 24, "songs": 3, "failed": {}}))
    (dest / "bwv1.6.npz").write_bytes(b"from an older build")
    files = build_bach(dest, max_songs=3, progress=False)
    assert len(files) == 3 and read_lpd_npz(files[0]).resolution == 24
    assert not (dest / MARKER).exists()  # a partial build writes none
