"""``python -m musegen.data.inspect`` on real LPD-5, LPD-17 and MIDI files and folders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musegen.data.inspect import main
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.tracks import LPD5_TRACKS
from tests.conftest import CORRUPT_MIDI as CORRUPT
from tests.conftest import LMD_MIDI as LMD
from tests.conftest import LPD5_FILE as LPD5
from tests.conftest import LPD17_FILE as LPD17
from tests.conftest import need as _need

LPD5_COUNTS = {"Drums": 2098, "Piano": 158, "Guitar": 974, "Bass": 819, "Strings": 2102}


def _inspect(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict | None, str]:
    code = main([str(path)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def _counts(summary: dict) -> dict[str, int]:
    return {name: t["notes"] for name, t in summary["tracks"].items()}


@pytest.mark.parametrize("name", ["lpd5", "lpd17"])
def test_lpd_files(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = _need(LPD5 if name == "lpd5" else LPD17)
    code, summary, err = _inspect(path, capsys)
    assert code == 0 and err == ""
    assert summary["resolution"] == 24
    assert summary["beats"] == 11136 // 24
    assert list(summary["tracks"]) == list(LPD5_TRACKS)
    assert _counts(summary) == LPD5_COUNTS
    assert summary["tracks"]["Bass"]["pitch_min"] < summary["tracks"]["Bass"]["pitch_max"]
    assert "files" not in summary


def test_midi_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = sorted(_need(LMD).glob("*.mid"))[0]
    notes = song_to_notes(midi_to_song(path))
    code, summary, _ = _inspect(path, capsys)
    assert code == 0
    for tid, name in enumerate(LPD5_TRACKS):
        pitch = notes["pitch"][notes["track"] == tid]
        assert summary["tracks"][name] == {
            "notes": int(pitch.size),
            "pitch_min": int(pitch.min()) if pitch.size else None,
            "pitch_max": int(pitch.max()) if pitch.size else None,
        }
    assert any(t["pitch_min"] is None for t in summary["tracks"].values())  # an empty track


def test_folder_sums_and_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    midi = sorted(_need(LMD).glob("*.mid"))[0]
    shutil.copy(_need(LPD5), tmp_path / LPD5.name)
    (tmp_path / "deeper").mkdir()
    shutil.copy(_need(LPD17), tmp_path / "deeper" / LPD17.name)
    shutil.copy(midi, tmp_path / "deeper" / midi.name)
    bad = sorted(_need(CORRUPT).glob("*.mid"))[0]
    shutil.copy(bad, tmp_path / bad.name)
    (tmp_path / "readme.txt").write_text("ignored")

    code, summary, _ = _inspect(tmp_path, capsys)
    assert code == 0
    assert summary["files"] == 3
    assert summary["skipped"] == [
        {
            "path": str(tmp_path / bad.name),
            "reason": "damaged MIDI file: file ends early (truncated track data)",
        }
    ]
    song = midi_to_song(midi)
    midi_counts = np.bincount(song_to_notes(song)["track"], minlength=5)
    expected = {
        n: 2 * c + int(m) for (n, c), m in zip(LPD5_COUNTS.items(), midi_counts, strict=True)
    }
    assert _counts(summary) == expected
    assert summary["beats"] == 2 * 464 + song.n_steps // 24
    assert summary["resolution"] == 24


def test_bad_paths_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.npz").write_bytes(b"PK not really a zip")
    cases = {
        tmp_path / "missing.npz": "no such file or folder",
        tmp_path / "empty": "no .npz or MIDI",
        tmp_path / "notes.txt": "not an .npz or MIDI",
        tmp_path / "broken.npz": "broken.npz",
    }
    for path, message in cases.items():
        code, summary, err = _inspect(path, capsys)
        assert code == 2 and summary is None, path
        assert err.startswith("inspect: ") and message in err and err.count("\n") == 1, err


def test_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "musegen.data.inspect", str(_need(LPD17))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _counts(json.loads(done.stdout)) == LPD5_COUNTS
