"""The LightningDataModule on real music: splits by song, windows, cache, sources, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from musegen.data.datamodule import NoteDataModule
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.data.sources import DataSourceError, lpd_files
from tests.conftest import LABELS, LPD5_FILE, need


def _dm(root: Path, data_dir: Path, **kw) -> NoteDataModule:
    kw.setdefault("batch_size", 32)
    dm = NoteDataModule(
        source="lpd5", root=str(root), data_dir=str(data_dir), progress=False, build_workers=1, **kw
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_splits_are_disjoint_by_song_and_notes_match_the_files(
    lmd_lpd5: Path, tmp_path: Path
) -> None:
    dm = _dm(lmd_lpd5, tmp_path, tracks=["Piano", "Bass"])
    ids = {name: set(split.song_ids) for name, split in dm.splits.items()}
    assert ids["train"] and ids["val"] and ids["test"]
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    # each cached song equals the notes read straight from its file (Piano=1, Bass=3)
    files = {f.song_id: f.path for f in lpd_files(lmd_lpd5)}
    split = dm.splits["val"]
    for i in range(split.n_songs):
        expected = song_to_notes(read_lpd_npz(files[split.song_ids[i]]), [1, 3])
        np.testing.assert_array_equal(split.song(i), expected)


def test_windows_are_contiguous_notes_of_one_song(lmd_lpd5: Path, tmp_path: Path) -> None:
    dm = _dm(lmd_lpd5, tmp_path, tracks=["Piano", "Bass"], seq_len=16, window_stride=3)
    windows, split = dm.windows["train"], dm.splits["train"]
    lengths = np.diff(split.offsets)
    assert len(windows) == int(np.sum(np.where(lengths >= 17, (lengths - 17) // 3 + 1, 0)))
    idx = np.random.default_rng(0).integers(0, len(windows), 200)
    batch = windows.__getitems__(idx.tolist())
    starts = windows.starts(idx)
    song = np.searchsorted(split.offsets, starts, side="right") - 1
    assert np.all(starts + 17 <= split.offsets[song + 1])  # never crosses a song boundary
    assert np.all((starts - split.offsets[song]) % 3 == 0)
    pitch = np.asarray(split.columns["pitch"])
    for row, start in zip(batch["pitch"].numpy(), starts, strict=True):
        np.testing.assert_array_equal(row, pitch[start : start + 17])
    # tracks are re-indexed to the modelled tracks: Piano -> 0, Bass -> 1
    assert set(np.unique(batch["track"].numpy())) <= {0, 1}


def test_transposed_training_windows(lmd_lpd5: Path, tmp_path: Path) -> None:
    """data.transpose=5: each training window's pitched notes move together by one shift in
    -5..5, drums stay, the MIDI range holds, val/test windows are the music as it is, and
    the same seed gives the same shifts."""
    dm = _dm(lmd_lpd5, tmp_path, seq_len=16, transpose=5)
    windows, split = dm.windows["train"], dm.splits["train"]
    idx = np.random.default_rng(0).integers(0, len(windows), 400).tolist()
    torch.manual_seed(3)
    batch = windows.__getitems__(idx)
    torch.manual_seed(3)
    again = windows.__getitems__(idx)
    torch.testing.assert_close(batch["pitch"], again["pitch"])
    rows = windows.starts(np.asarray(idx))[:, None] + np.arange(17)
    original = np.asarray(split.columns["pitch"])[rows]  # (B, L)
    drums = np.asarray(split.columns["track"])[rows] == 0  # LPD track 0: Drums
    moved = batch["pitch"].numpy() - original
    np.testing.assert_array_equal(moved[drums], 0)
    shifts = set()
    for row, is_drum in zip(moved, drums, strict=True):
        pitched = row[~is_drum]
        if pitched.size:
            assert np.all(pitched == pitched[0]) and -5 <= pitched[0] <= 5
            shifts.add(int(pitched[0]))
    assert len(shifts) >= 8  # the shifts really vary
    assert batch["pitch"].min() >= 0 and batch["pitch"].max() <= 127
    for name in ("val", "test"):
        plain = dm.windows[name].__getitems__([0, 1, 2])
        start = dm.windows[name].starts(np.asarray([0, 1, 2]))[:, None] + np.arange(17)
        np.testing.assert_array_equal(
            plain["pitch"].numpy(), np.asarray(dm.splits[name].columns["pitch"])[start]
        )


def test_transposition_keeps_the_midi_range() -> None:
    from musegen.data.windows import transposed

    pitch = torch.tensor([[2, 120, 60], [125, 126, 0], [40, 41, 42]])
    pitched = torch.tensor([[True, True, False], [True, True, False], [False, False, False]])
    torch.manual_seed(0)
    for _ in range(50):
        out = transposed(pitch, pitched, 12)
        assert out.min() >= 0 and out.max() <= 127
        assert out[0, 2] == 60 and out[1, 2] == 0 and torch.equal(out[2], pitch[2])
        assert out[0, 1] - out[0, 0] == 118  # the window moves as one


def test_dataloader_batches_and_workers(lmd_lpd5: Path, tmp_path: Path) -> None:
    dm = _dm(lmd_lpd5, tmp_path, seq_len=25, batch_size=315)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"time", "pitch", "step", "duration", "velocity", "track"}
    assert batch["pitch"].shape == (315, 26) and batch["pitch"].dtype == torch.int64
    # onsets and steps agree: each step is the gap to the previous onset of the window
    gaps = torch.diff(batch["time"], dim=1).double() / 24
    torch.testing.assert_close(gaps, batch["step"][:, 1:].double(), atol=1e-6, rtol=0)
    assert batch["step"].dtype == torch.float32 and (batch["step"] >= 0).all()
    assert int(batch["pitch"].max()) < 128 and int(batch["track"].max()) < 5
    # memory-mapped columns survive pickling into worker processes
    dm.num_workers = 2
    loader = dm.val_dataloader()
    first = next(iter(loader))
    np.testing.assert_array_equal(
        first["pitch"].numpy(), dm.windows["val"].__getitems__(list(range(315)))["pitch"]
    )


def test_cache_rebuilt_when_config_or_files_change(lmd_lpd5: Path, tmp_path: Path) -> None:
    root = tmp_path / "songs"
    shutil.copytree(lmd_lpd5, root)
    dm1 = _dm(root, tmp_path / "d", tracks=["Piano"])
    again = _dm(root, tmp_path / "d", tracks=["Piano"])
    assert again.entry == dm1.entry  # reused, not rebuilt
    dm2 = _dm(root, tmp_path / "d", tracks=["Piano", "Guitar"])
    assert dm2.entry != dm1.entry
    assert dm2.splits["train"].n_notes > dm1.splits["train"].n_notes
    # a removed song makes the entry stale
    victim = sorted(root.rglob("*.npz"))[0]
    victim.unlink()
    dm3 = _dm(root, tmp_path / "d", tracks=["Piano"])
    assert dm3.entry != dm1.entry
    # an unfinished entry (no meta.json: a killed build) is never read, but rebuilt
    (dm3.entry / "meta.json").unlink()
    dm4 = _dm(root, tmp_path / "d", tracks=["Piano"])
    assert dm4.entry == dm3.entry and (dm4.entry / "meta.json").exists()
    assert dm4.splits["train"].n_notes == dm3.splits["train"].n_notes


def test_missing_or_empty_root_gives_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="lakh-pianoroll-dataset") as err:
        _dm(tmp_path / "nowhere", tmp_path)
    assert "\n" not in str(err.value) and "data.root" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataSourceError, match=r"no \.npz files"):
        _dm(tmp_path / "empty", tmp_path)
    with pytest.raises(DataSourceError, match=r"data\.root is not set"):
        NoteDataModule(source="midi", root=None, data_dir=str(tmp_path)).prepare_data()


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"seq_len": 0}, "data.seq_len"),
        ({"tracks": ["Drums", "Flute"]}, "data.tracks"),
        ({"batch_size": -1}, "data.batch_size"),
        ({"source": "wav"}, "data.source"),
        ({"split": [0.9, 0.2, 0.1]}, "data.split"),
        ({"transpose": 13}, "data.transpose"),
    ],
)
def test_nonsense_values_name_the_key(kw: dict, key: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        NoteDataModule(data_dir=str(tmp_path), **kw)


def test_official_tree_ids_and_genre_subsets(tmp_path: Path) -> None:
    need(LPD5_FILE)
    need(LABELS)
    # LPD's official layout: lpd_5_cleansed/A/A/A/<MSD id>/<md5>.npz
    tree = tmp_path / "lpd_5_cleansed"
    pop = tree / "A/A/A/TRAAAGR128F425B14B/b97c529ab9ef783a849b896816001748.npz"
    pop.parent.mkdir(parents=True)
    shutil.copy(LPD5_FILE, pop)
    assert [f.song_id for f in lpd_files(tree)] == ["TRAAAGR128F425B14B"]
    dm = NoteDataModule(
        source="lpd5",
        root=str(tree),
        data_dir=str(tmp_path),
        genres=["pop"],
        labels=str(LABELS),
        progress=False,
    )
    assert [f.song_id for f in dm.songs()] == ["TRAAAGR128F425B14B"]
    dm = NoteDataModule(
        source="lpd5",
        root=str(tree),
        data_dir=str(tmp_path),
        genres=["Rock"],
        labels=str(LABELS),
        progress=False,
    )
    with pytest.raises(DataSourceError, match="no song"):
        dm.songs()
    with pytest.raises(ValueError, match="not a tagtraum genre"):
        NoteDataModule(
            source="lpd5",
            root=str(tree),
            data_dir=str(tmp_path),
            genres=["Polka"],
            labels=str(LABELS),
            progress=False,
        ).songs()
