"""Streams (``data.stream``): batches whose rows run through whole songs, and the network's
state carried from one batch to the next: the deal by hand, the windows read from real
chorales, the rows reset, and two windows with the state carried equal to one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from musegen.data.datamodule import NoteDataModule
from musegen.data.streams import StreamBatches, StreamIndices, epoch_streams
from musegen.models.checkpoint import load_network
from musegen.models.config import NoteNetConfig, TimingConfig
from musegen.models.losses import LossWeights
from musegen.models.network import NoteNet
from musegen.models.objective import batch_losses, score, stream_losses, teacher_forcing
from musegen.models.sounding_context import NONE
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import run_cli, small


def test_songs_dealt_to_rows_by_hand() -> None:
    """Four songs of 11 notes and one of 5 (too short), windows of 10 + 1 notes: each long
    song is one window from its first note; two rows take two songs each, every window
    starts a song; the short song is never dealt."""
    offsets = np.array([0, 11, 22, 27, 38, 49])  # songs of 11, 11, 5, 11, 11 notes
    starts, resets, songs = epoch_streams(offsets, 10, rows=2, seed=3, epoch=0)
    assert starts.shape == resets.shape == songs.shape == (2, 2)
    assert sorted(starts.ravel().tolist()) == [0, 11, 27, 38] and resets.all()
    assert np.array_equal(starts, offsets[songs]) and 2 not in songs
    # one song of 45 notes (3-4 windows, hop 10, from a random offset below 10) and one of 11
    offsets = np.array([0, 45, 56])
    for epoch in range(6):
        starts, resets, songs = epoch_streams(offsets, 10, rows=2, seed=3, epoch=epoch)
        assert starts.shape == (2, 1)  # the short row decides: one window
        row = int(np.flatnonzero(songs[:, 0] == 0)[0])
        assert 0 <= starts[row, 0] < 10 and resets[:, 0].all()
    long_row = epoch_streams(np.array([0, 45, 56, 67]), 10, rows=2, seed=3, epoch=0)
    assert long_row[0].shape == (2, 2)  # the two short songs share a row: two windows


def test_every_offset_below_a_window_and_no_batch_without_enough_songs() -> None:
    """The offsets of a song's first window: each song its own, all of 0..seq_len-1 over the
    epochs, and never past the last window that fits (a song of 12 notes, windows of 10 + 1:
    0 or 1). A note-long song never makes a window of 1 + 1 notes; fewer songs than rows make
    no batch."""
    offsets = np.concatenate([[0], np.cumsum(np.full(30, 300)), [9012]])  # + a 12-note song
    firsts, lasts = [], []
    for epoch in range(12):
        starts, resets, songs = epoch_streams(offsets, 10, rows=3, seed=2, epoch=epoch)
        assert starts.dtype == songs.dtype == np.int64 and resets.dtype == bool
        firsts.append(starts[resets] - offsets[songs[resets]])
        lasts += starts[resets][songs[resets] == 30].tolist()
    assert set(lasts) == {9000, 9001}
    assert set(np.concatenate(firsts).tolist()) == set(range(10))
    assert len(set(firsts[0].tolist())) > 3  # each song its own offset
    assert epoch_streams(np.array([0, 1, 3]), 1, rows=1, seed=0, epoch=0)[0].shape == (1, 1)
    none = epoch_streams(np.array([0, 40, 80]), 10, rows=3, seed=0, epoch=0)
    assert [(a.shape, a.dtype) for a in none] == [
        ((3, 0), np.int64), ((3, 0), np.dtype(bool)), ((3, 0), np.int64)
    ]  # fmt: skip
    assert len(StreamBatches(np.array([0, 40, 80]), 10, 3, seed=0)) == 0


def test_streams_go_on_window_after_window() -> None:
    """Real song lengths (hundreds of notes): in each row a song's windows follow one another
    seq_len notes apart inside the song, resets exactly where a song begins, no song in two
    rows, and the same (seed, epoch) gives the same streams, another epoch others."""
    rng = np.random.default_rng(0)
    offsets = np.concatenate([[0], np.cumsum(rng.integers(20, 400, size=40))])
    starts, resets, songs = epoch_streams(offsets, 25, rows=6, seed=7, epoch=1)
    assert starts.shape[0] == 6 and starts.shape[1] > 10
    for row in range(6):
        same = songs[row, 1:] == songs[row, :-1]
        assert np.array_equal(~same, resets[row, 1:]) and resets[row, 0]
        assert (np.diff(starts[row])[same] == 25).all()
        assert (starts[row] >= offsets[songs[row]]).all()
        assert (starts[row] + 26 <= offsets[songs[row] + 1]).all()  # 26 notes inside
        assert (starts[row][resets[row]] - offsets[songs[row][resets[row]]] < 25).all()
    rows_of = {int(s): {r for r in range(6) if s in songs[r]} for s in np.unique(songs)}
    assert all(len(r) == 1 for r in rows_of.values())
    again = epoch_streams(offsets, 25, rows=6, seed=7, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(again, (starts, resets, songs), strict=True))
    assert not np.array_equal(epoch_streams(offsets, 25, rows=6, seed=7, epoch=2)[0], starts)


def test_ranks_take_their_rows_and_a_resume_starts_afresh() -> None:
    offsets = np.concatenate([[0], np.cumsum(np.full(12, 200))])
    whole = list(StreamBatches(offsets, 25, 4, seed=1, epoch=2))
    ranks = [list(StreamBatches(offsets, 25, 2, 1, 2, rank, 2)) for rank in (0, 1)]
    assert len(whole) == len(ranks[0]) == len(ranks[1]) > 3
    for t, batch in enumerate(whole):
        assert list(batch) == list(ranks[0][t]) + list(ranks[1][t])
        assert batch.epoch == 2 and isinstance(batch, StreamIndices)
    for skip in (1, 3):
        sampler = StreamBatches(offsets, 25, 4, seed=1, epoch=2, skip_once=skip)
        resumed = list(sampler)
        assert [list(b) for b in resumed] == [list(b) for b in whole[skip:]]
        assert resumed[0].resets.all() and not whole[skip].resets.all()
        assert np.array_equal(resumed[1].resets, whole[skip + 1].resets)
        assert [list(b) for b in sampler] == [list(b) for b in whole]  # skipped once only
    sampler = StreamBatches(offsets, 25, 4, seed=1)  # epoch 0 unless set
    first = epoch_streams(offsets, 25, 4, seed=1, epoch=0)[0]
    assert sampler.epoch == 0 and np.array_equal([list(b) for b in sampler], first.T)
    sampler.set_epoch(2)
    assert len(sampler) == len(whole) and [list(b) for b in sampler] == [list(b) for b in whole]
    indices = whole[0]
    assert indices.songs.dtype == np.int64 and indices.resets.dtype == bool
    with pytest.raises(ValueError, match=r"^rank 2 outside 0\.\.1$"):
        StreamBatches(offsets, 25, 2, 1, rank=2, world_size=2)


def test_a_real_stream_reads_its_songs_notes(bach_small: Path) -> None:
    """The training loader of ``stream=True`` on real chorales: each row's window is the
    song's notes from its start; the next batch's row goes on where it stopped, one
    transposition per song."""
    dm = NoteDataModule(
        source="bach",
        data_dir=str(bach_small),
        tracks=["Piano"],
        seq_len=25,
        batch_size=4,
        max_songs=24,
        seed=5,
        transpose=5,
        stream=True,
        progress=False,
    )
    dm.prepare_data()
    dm.setup("fit")
    loader = dm.train_dataloader()
    sampler = loader.batch_sampler
    batches = [b for b, _ in zip(loader, range(8), strict=False)]
    starts, resets, _ = sampler.streams()
    pitch = np.asarray(dm.splits["train"].columns["pitch"]).astype(np.int64)
    for t, batch in enumerate(batches):
        assert batch["pitch"].shape == (4, 26) and torch.equal(
            batch["reset"], torch.from_numpy(resets[:, t])
        )
        for row in range(4):
            notes = pitch[starts[row, t] : starts[row, t] + 26].astype(np.int64)
            shift = (batch["pitch"][row].numpy() - notes)[notes > 0]
            assert len(set(shift.tolist())) == 1  # one key moved as a whole
            if t and not resets[row, t]:  # the same song as before: the same move
                prev = batches[t - 1]["pitch"][row, -1].item() - pitch[starts[row, t - 1] + 25]
                assert shift[0] == prev
                assert batch["pitch"][row, 0] == batches[t - 1]["pitch"][row, -1]


def _net() -> NoteNet:
    config = NoteNetConfig(
        net={
            "_target_": "musegen.models.backbones.LSTMGRUBackbone",
            "hidden_size": 16,
            "dropout": 0.0,
        },
        n_tracks=2,
        track_names=("Drums", "Piano"),
        encoder={
            "pitch_dim": 8,
            "track_dim": 4,
            "position_dim": 4,
            "key_dim": 4,
            "sounding_dim": 4,
        },
        timing=TimingConfig("categorical"),
    )
    return NoteNet(config).eval()


def _notes(batch: int, length: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    step = torch.randint(0, 3, (batch, length), generator=g) / 4
    return {
        "pitch": torch.randint(36, 80, (batch, length), generator=g),
        "step": step,
        "duration": torch.randint(1, 5, (batch, length), generator=g) / 4,
        "track": torch.randint(0, 2, (batch, length), generator=g),
        "time": torch.cumsum(torch.round(step * 24).long(), 1),
        "velocity": torch.zeros(batch, length, dtype=torch.int64),
    }


def test_two_windows_with_the_state_carried_are_one_pass() -> None:
    """A sequence of 41 notes scored as one window equals its two halves of 20 (+1) scored
    one after the other with the state carried (key counts and sounding keys included): the
    loss of the second half, over the same targets, is the same; with its rows reset, it is
    that of the second half read from a fresh state."""
    net, notes = _net(), _notes(2, 41)
    weights = LossWeights()
    second = {k: v[:, 20:] for k, v in notes.items()}
    h_all, _ = net.hidden({k: v[:, :40] for k, v in notes.items()})
    _, state = net.hidden({k: v[:, :20] for k, v in notes.items()})
    keep = {**second, "reset": torch.tensor([False, False])}
    losses, n, after = stream_losses(net, keep, state, "all", weights, 0.0)
    assert not after[0][1].requires_grad  # handed on detached
    expected, _ = score(net, h_all[:, 20:], teacher_forcing(second)[1], second, "all", weights, 0.0)
    assert torch.allclose(losses["loss"], expected["loss"], atol=1e-5)
    fresh = {**second, "reset": torch.tensor([True, True])}
    reset, n_reset, _ = stream_losses(net, fresh, state, "all", weights, 0.0)
    plain, _ = batch_losses(net, second, "all", weights, 0.0)
    assert n == n_reset == 40 and torch.allclose(reset["loss"], plain["loss"], atol=1e-6)
    assert not torch.allclose(losses["loss"], plain["loss"])


def test_fresh_rows_by_hand() -> None:
    net, notes = _net(), _notes(3, 12)
    _, state = net.hidden(notes)
    (lstm, gru), (counts, ends, sums) = state
    reset = torch.tensor([False, True, False])
    (lstm2, gru2), (counts2, ends2, sums2) = net.fresh_rows(state, reset)
    for old, new in ((lstm[0], lstm2[0]), (lstm[1], lstm2[1]), (gru, gru2)):
        assert torch.equal(new[:, 1], torch.zeros_like(new[:, 1]))
        assert torch.equal(new[:, [0, 2]], old[:, [0, 2]]) and not new.requires_grad
    assert (counts2[1] == 0).all() and torch.equal(counts2[[0, 2]], counts[[0, 2]])
    assert (ends2[1] == NONE).all() and torch.equal(ends2[[0, 2]], ends[[0, 2]])
    assert (counts[1] > 0).any() and (ends[1] > NONE).any() and sums is sums2 is None


def test_a_transformer_refuses_streams(session_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = run_cli(
        "musegen.train", *small(session_data_dir, "model=transformer", "data.stream=true"),
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: data.stream=true carries the network's state")
    assert done.stderr.count("\n") == 1 and not (out / "checkpoints").exists()


def test_training_on_streams_carries_the_state(session_data_dir: Path, tmp_path: Path) -> None:
    """A real run on streams of chorales: it trains, and its network generates with its
    state carried through the piece (no context to re-read)."""
    cfg = compose_config(
        small(session_data_dir, "data.stream=true", "evaluate.enabled=false", "test=false"),
        output_dir=str(tmp_path),
    )
    train(cfg)
    net = load_network(tmp_path / "checkpoints" / "last.ckpt")
    assert net.config.context is None and net.carries_state
