"""The song pass (data.test_pass=song) against the tutorial's window pass, on real songs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from musegen.data.datamodule import NoteDataModule
from musegen.models.config import NoteNetConfig
from musegen.models.network import NoteNet
from musegen.models.task import teacher_forcing

SEQ = 16


def _dm(root: Path, data_dir: Path, test_pass: str) -> NoteDataModule:
    dm = NoteDataModule(
        source="lpd5",
        root=str(root),
        data_dir=str(data_dir),
        seq_len=SEQ,
        progress=False,
        build_workers=1,
        test_pass=test_pass,
    )
    dm.prepare_data()
    dm.setup("test")
    return dm


def _pitch_nll(net: NoteNet, batch: dict) -> torch.Tensor:
    """Pitch NLL of every position, (B, L), computed outside the task."""
    inputs, targets = teacher_forcing(batch)
    with torch.no_grad():
        pred, _ = net(inputs)
    logits = pred["pitch"]  # (B, L, 128)
    return F.cross_entropy(logits.transpose(1, 2), targets["pitch"], reduction="none")


def test_every_note_is_scored_once(lmd_lpd5: Path, tmp_path: Path) -> None:
    dm = _dm(lmd_lpd5, tmp_path, "song")
    windows = dm.windows["test"]
    batch = windows.__getitems__(list(range(len(windows))))
    rows = windows.starts(np.arange(len(windows)))[:, None] + np.arange(1, SEQ + 1)
    scored = rows[batch["score"].numpy()]
    lengths = np.diff(dm.splits["test"].offsets)
    assert scored.size == windows.scored_notes() == int((lengths - 1).clip(0).sum())
    assert np.unique(scored).size == scored.size  # no note twice
    firsts = dm.splits["test"].offsets[:-1]
    assert not np.isin(firsts, scored).any()  # a song's first note has nothing before it
    # the network runs about twice per scored note, not SEQ times
    assert len(windows) * SEQ / scored.size < 2.2


def test_song_pass_agrees_with_the_window_pass_on_each_songs_first_window(
    lmd_lpd5: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    net = NoteNet(
        NoteNetConfig(
            {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 24},
            n_tracks=5,
            encoder={"pitch_dim": 8, "track_dim": 4},
        )
    ).eval()
    song = _dm(lmd_lpd5, tmp_path / "a", "song")
    window = _dm(lmd_lpd5, tmp_path / "a", "window")
    split = song.splits["test"]
    firsts = split.offsets[:-1][np.diff(split.offsets) > SEQ]  # songs with a full window
    # the window pass: each song's first window, the note after it (position SEQ - 1)
    w_idx = [
        int(
            np.flatnonzero(
                window.windows["test"].starts(np.arange(len(window.windows["test"]))) == f
            )[0]
        )
        for f in firsts
    ]
    old = _pitch_nll(net, window.windows["test"].__getitems__(w_idx))[:, -1]
    # the song pass: the same songs' first windows score that note at the same position
    s_starts = song.windows["test"].starts(np.arange(len(song.windows["test"])))
    s_idx = [int(np.flatnonzero(s_starts == f)[0]) for f in firsts]
    batch = song.windows["test"].__getitems__(s_idx)
    assert batch["score"][:, SEQ - 1].all()
    new = _pitch_nll(net, batch)[:, SEQ - 1]
    torch.testing.assert_close(new, old, rtol=0, atol=1e-6)
    # later notes differ: the window pass gives each SEQ notes, the song pass fewer or more
    assert len(firsts) > 10
