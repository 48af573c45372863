"""``convert_tree`` and ``python -m musegen.data.convert`` on the real Lakh files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musegen.data.convert import ConvertReport, convert_tree, main
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import song_to_notes
from tests.conftest import CORRUPT_MIDI as CORRUPT
from tests.conftest import LMD_MIDI as LMD
from tests.conftest import need as _need


@pytest.fixture()
def mixed_tree(tmp_path: Path) -> Path:
    """Three good Lakh files (one in a subfolder, one with an upper-case suffix) + two bad."""
    src = tmp_path / "src"
    good = sorted(_need(LMD).glob("*.mid"))[:3]
    (src / "sub").mkdir(parents=True)
    shutil.copy(good[0], src / good[0].name)
    shutil.copy(good[1], src / "sub" / good[1].name)
    shutil.copy(good[2], src / (good[2].stem + ".MIDI"))
    for bad in sorted(_need(CORRUPT).glob("*.mid")):
        shutil.copy(bad, src / bad.name)
    (src / "notes.txt").write_text("not a MIDI file, and not named like one")
    return src


def test_convert_tree_on_lakh(tmp_path: Path) -> None:
    files = sorted(_need(LMD).glob("*.mid"))
    report = convert_tree(LMD, tmp_path / "out", workers=2, progress=False)
    assert isinstance(report, ConvertReport)
    assert len(report.converted) >= 0.95 * len(files)
    assert len(report.converted) + len(report.skipped) == len(files)
    assert report.existing == 0
    assert [p.name for p, _ in report.skipped] == ["00a6fcf5afc65dee2a833291b4c11b0c.mid"]
    assert report.skipped[0][1] == "no notes"
    assert all(p.suffix == ".npz" and p.parent == tmp_path / "out" for p in report.converted)
    # the npz holds exactly what midi_to_song gives
    sample = report.converted[5]
    np.testing.assert_array_equal(
        song_to_notes(read_lpd_npz(sample)),
        song_to_notes(midi_to_song(LMD / f"{sample.stem}.mid")),
    )
    assert read_lpd_npz(sample).name == sample.stem
    again = convert_tree(LMD, tmp_path / "out", workers=2, progress=False)
    assert again.converted == [] and again.existing == len(report.converted)
    forced = convert_tree(LMD, tmp_path / "out", workers=1, progress=False, skip_existing=False)
    assert forced.converted == report.converted


def test_tree_layout_and_damaged_files(mixed_tree: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    report = convert_tree(mixed_tree, dest, workers=2, progress=False)
    good = sorted(LMD.glob("*.mid"))[:3]
    assert sorted(p.relative_to(dest).as_posix() for p in report.converted) == sorted(
        [f"{good[0].stem}.npz", f"sub/{good[1].stem}.npz", f"{good[2].stem}.npz"]
    )
    assert len(report.converted) == 3
    assert {p.name: r for p, r in report.skipped} == {
        "1a2c37d1ef02797d25ac9488b3a0b871.mid": "damaged MIDI file: file ends early "
        "(truncated track data)",
        "1a7a85e46e7742a7a40a18f327a757fa.mid": "damaged MIDI file: data byte must be in "
        "range 0..127",
    }


def test_cli_exit_codes_and_summary(
    mixed_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(mixed_tree), str(tmp_path / "a"), "--workers", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "converted 3 files" in err and "2 skipped" in err
    assert "1a2c37d1ef02797d25ac9488b3a0b871.mid: damaged MIDI file: file ends early" in err
    assert "Traceback" not in err

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    for bad in CORRUPT.glob("*.mid"):
        shutil.copy(bad, only_bad / bad.name)
    assert main([str(only_bad), str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nothing converted" in err and "data byte must be in range 0..127" in err

    assert main([str(tmp_path / "missing"), str(tmp_path / "c")]) == 2
    assert "does not exist; expected a folder of MIDI files" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), str(tmp_path / "c")]) == 2
    assert "no MIDI files (*.mid, *.midi) under" in capsys.readouterr().err


def test_cli_runs_as_a_module(mixed_tree: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "musegen.data.convert", str(mixed_tree), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "converted 3 files" in done.stderr
    assert len(list((tmp_path / "o").rglob("*.npz"))) == 3
    done = subprocess.run(
        [sys.executable, "-m", "musegen.data.convert", str(tmp_path / "nope"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
