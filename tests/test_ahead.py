"""The kept music ahead (``data.ahead``, ``task.encoder.ahead_dim``): the next kept note after
each note, by hand; on real Lakh windows, past the window's end and transposed with it; the
network's features by hand; and the decoder feeding each note's next kept note."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from musegen.checks import ConfigError
from musegen.config_checks import check_config, compose_checked
from musegen.data.ahead import NONE, kept_tracks, next_kept, track_bits
from musegen.data.datamodule import NoteDataModule
from musegen.data.tracks import IS_DRUM
from musegen.generation.accompany import split_piece
from musegen.generation.decode import _Kept, generate, start_notes
from musegen.generation.notes import notes_to_tensors
from musegen.generation.sampling import Picker, Sampling
from musegen.models.ahead_context import AheadContext
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.objective import teacher_forcing
from musegen.models.time_classes import TimeClasses
from tests.test_accompany import TRACKS, _song


def test_the_next_kept_note_by_hand() -> None:
    """Six notes (Drums 0, Piano 1, Bass 3) at 0, 0, 24, 48, 48, 96; the Piano kept: after
    note 0 the Piano's note at its own onset (gap 0); after notes 1-3 the Piano at 48 (gaps
    48, 24, 0); after note 4 none. A row keeping nothing has none anywhere."""
    time = torch.tensor([[0, 0, 24, 48, 48, 96]] * 2)
    pitch = torch.tensor([[36, 60, 38, 40, 64, 36]] * 2)
    track = torch.tensor([[0, 1, 0, 3, 1, 0]] * 2)
    is_kept = torch.stack([track[0] == 1, torch.zeros(6, dtype=torch.bool)])
    out = next_kept(time, pitch, track, is_kept, 5)
    assert out["ahead_gap"].tolist() == [[0, 48, 24, 0, NONE], [NONE] * 5]
    assert out["ahead_pitch"].tolist() == [[60, 64, 64, 64, 0], [0] * 5]
    assert out["ahead_track"].tolist() == [[1, 1, 1, 1, 0], [0] * 5]
    # every note read (length = N), the Drums kept: the last note has none after it, the
    # drum note at 96 is the next after notes 3 and 4
    whole = next_kept(time[:1], pitch[:1], track[:1], track[:1] == 0, 6)
    assert whole["ahead_gap"].tolist() == [[24, 24, 72, 48, 48, NONE]]
    assert whole["ahead_pitch"].tolist() == [[38, 38, 36, 36, 36, 0]]
    assert track_bits(torch.tensor([[True, False, True], [False] * 3])).tolist() == [5, 0]
    g = torch.Generator().manual_seed(0)
    assert not kept_tracks(50, 5, 0.0, g).any()
    drawn = kept_tracks(4000, 5, 0.5, g)
    assert drawn.shape == (4000, 5) and drawn.dtype == torch.bool
    rows = drawn.any(1).float().mean().item()  # 0.5 * (1 - 1/32) of the rows keep a track
    assert abs(rows - 0.5 * 31 / 32) < 0.03 and abs(drawn.float().mean().item() - 0.25) < 0.02
    again = [kept_tracks(64, 5, 0.5, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(*again)  # from the generator alone


def test_training_windows_read_the_next_kept_note_past_their_end(
    lmd_lpd5: Path, session_data_dir: Path
) -> None:
    """Real Lakh songs, windows of 20 + 1 notes moved by up to 3 semitones: each note's next
    kept note is the one found by hand in the song's own notes (also past the window, never
    past the song), its pitch moved with the window, drums never; the kept tracks are drawn
    per window, the same for the same batch; val and test read none."""
    dm = NoteDataModule(
        source="lpd5",
        root=str(lmd_lpd5),
        data_dir=str(session_data_dir),
        seq_len=20,
        batch_size=8,
        max_songs=6,
        transpose=3,
        seed=2,
        ahead=1.0,
        progress=False,
    )
    dm.prepare_data()
    dm.setup("fit")
    windows, split = dm.windows["train"], dm.splits["train"]
    indices = list(range(0, len(windows), max(len(windows) // 24, 1)))[:24]
    ends = [max(int(e) - 1 - back, 0) for e in np.unique(windows._ends) for back in (0, 1, 2)]
    indices += ends  # each song's last windows: their notes past them are few
    batch = windows.__getitems__(indices)
    again = windows.__getitems__(indices)
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    cols = {k: np.asarray(split.columns[k]).astype(np.int64) for k in ("time", "pitch", "track")}
    firsts = windows.starts(np.asarray(indices))
    past = last = 0
    for row, first in enumerate(firsts):
        bits = int(batch["kept_tracks"][row, 0])
        assert (batch["kept_tracks"][row] == bits).all()
        song_end = split.offsets[np.searchsorted(split.offsets, first, side="right")]
        pitched = ~IS_DRUM[cols["track"][first : first + 21]]
        moved = (batch["pitch"][row].numpy() - cols["pitch"][first : first + 21])[pitched]
        shift = int(moved[0]) if len(moved) else 0
        for j in range(21):
            later = [
                k
                for k in range(first + j + 1, min(first + 21 + 96, song_end))
                if bits >> int(cols["track"][k]) & 1
            ]
            got = [int(batch[k][row, j]) for k in ("ahead_gap", "ahead_pitch", "ahead_track")]
            if not later:
                assert got == [NONE, 0, 0]
                continue
            k = later[0]
            past += k >= first + 21
            last += k == song_end - 1
            drum = bool(IS_DRUM[cols["track"][k]])
            want = cols["pitch"][k] + (0 if drum else shift)
            assert got == [cols["time"][k] - cols["time"][first + j], want, cols["track"][k]]
    assert past > 0 and last > 0  # some found past the window's end, some at the song's
    assert len({int(b) for b in batch["kept_tracks"][:, 0]}) > 3
    dm.setup("validate")
    plain = dm.windows["val"].__getitems__([0])
    assert "ahead_gap" not in plain and "kept_tracks" not in plain
    dm.test_pass = "window"  # val and test as windows of the training kind: still none kept
    dm.setup("validate")
    for name in ("val", "test"):
        plain = dm.windows[name].__getitems__([0])
        assert "ahead_gap" not in plain and "kept_tracks" not in plain


def test_the_networks_features_by_hand() -> None:
    """Three tracks, the Piano and Guitar kept (bits 6), 24 steps a beat: no kept note (only
    the kept flags), one at the note's own onset, one 2 beats ahead (log1p 2), one 200
    steps ahead (past the 4-beat reach: as none). Notes without the inputs: all zeros."""
    ahead = AheadContext(4, 3, 24)
    notes = {
        "ahead_gap": torch.tensor([[NONE, 0, 48, 200, 96]]),
        "ahead_pitch": torch.tensor([[0, 62, 50, 70, 60]]),
        "ahead_track": torch.tensor([[0, 1, 2, 1, 1]]),
        "kept_tracks": torch.tensor([[6, 6, 6, 6, 6]]),
    }
    got = ahead.features(notes, notes["ahead_gap"])[0]  # (5, 16 + 6)
    flags = [0.0, 1.0, 1.0]

    def row(gap_log: float, same: float, pc: int, height: float, track: int) -> list[float]:
        return [1.0, gap_log, same, *np.eye(12)[pc], height, *np.eye(3)[track], *flags]

    want = [
        [0.0] * 19 + flags,
        row(0.0, 1.0, 2, 62 / 127, 1),
        row(math.log1p(2.0), 0.0, 2, 50 / 127, 2),
        [0.0] * 19 + flags,
        row(math.log1p(4.0), 0.0, 0, 60 / 127, 1),  # a bar ahead: still within reach
    ]
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float32))
    bare = ahead.features({}, torch.zeros(2, 3, dtype=torch.int64))
    assert bare.shape == (2, 3, 22) and not bare.any()
    assert ahead.to(torch.bfloat16)(notes, notes["ahead_gap"]).dtype == torch.bfloat16
    assert AheadContext(1, 3, 24).proj.out_features == 1
    with pytest.raises(ConfigError, match=r"^task\.encoder\.ahead_dim must be an integer >= 1"):
        AheadContext(0, 3, 24)


def _net(ahead_dim: int = 8) -> NoteNet:
    torch.manual_seed(0)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 32},
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4, "ahead_dim": ahead_dim},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=8, max_beats=16)),
        heads=HeadsConfig("chained", ("track", "pitch", "step", "duration"), 16),
        context=400,
    )
    return NoteNet(config).eval()


def test_the_network_reads_the_kept_music_ahead() -> None:
    """With ``ahead_dim`` the backbone reads the inputs: other gaps, other outputs; no
    inputs read as none kept; one note at a time (``step``) as the whole sequence."""
    net = _net()
    g = torch.Generator().manual_seed(1)
    notes = {
        "pitch": torch.randint(36, 80, (2, 6), generator=g),
        "step": torch.full((2, 6), 0.5),
        "duration": torch.full((2, 6), 0.5),
        "track": torch.randint(0, 5, (2, 6), generator=g),
        "time": torch.arange(6).repeat(2, 1) * 12,
        "ahead_gap": torch.randint(0, 30, (2, 6), generator=g),
        "ahead_pitch": torch.randint(36, 80, (2, 6), generator=g),
        "ahead_track": torch.ones(2, 6, dtype=torch.int64),
        "kept_tracks": torch.full((2, 6), 2),
    }
    h, _ = net.hidden(notes)
    inputs, _ = teacher_forcing(notes)  # a batch's inputs keep the kept music ahead
    assert torch.equal(inputs["ahead_gap"], notes["ahead_gap"][:, :-1])
    assert torch.equal(inputs["kept_tracks"], notes["kept_tracks"][:, :-1])
    h_far, _ = net.hidden({**notes, "ahead_gap": notes["ahead_gap"] + 40})
    assert not torch.allclose(h, h_far)
    none = {"ahead_gap": torch.full((2, 6), NONE), "kept_tracks": torch.zeros(2, 6).long()}
    bare = {k: v for k, v in notes.items() if not k.startswith(("ahead", "kept"))}
    assert torch.allclose(net.hidden({**notes, **none})[0], net.hidden(bare)[0])
    state = None
    for t in range(6):
        out, state = net.step({k: v[:, t] for k, v in notes.items()}, state)
        assert torch.allclose(out, h[:, t], atol=1e-5)


def test_the_decoder_feeds_each_note_its_next_kept_note() -> None:
    """A real song's Piano kept, Drums and Bass drawn: every note the network reads carries,
    by hand from the decoded piece, the onset of the next kept note not yet fed minus its
    own, that note's pitch and track, and the Piano's flag; the start note the first kept
    note's. Window decoding draws the same notes."""
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=3)
    given = notes_to_tensors([kept], list(range(5)), "cpu")
    net = _net()
    seen = []
    forward = net.ahead.forward
    net.ahead.forward = lambda notes, like: (seen.append(dict(notes)), forward(notes, like))[1]  # type: ignore[method-assign]

    def draw(mode: str) -> dict[str, torch.Tensor]:
        pick = Picker(Sampling(), torch.Generator().manual_seed(4), TRACKS, ("Drums", "Bass"),
                      given=["Piano"])  # fmt: skip
        return generate(net, start_notes(1), 4 * len(kept), pick, mode=mode, seq_len=400,
                        kept=given)  # fmt: skip

    out = draw("incremental")
    source, time = out["kept"][0].tolist(), out["time"][0].tolist()
    fed = np.cumsum([s >= 0 for s in source])  # kept notes fed up to each note
    first = seen[0]  # the start note, from a fresh state
    assert first["ahead_gap"].tolist() == [[int(kept["time"][0])]]
    assert first["kept_tracks"].tolist() == [[2]]
    steps = seen[1:]
    assert len(steps) == len(time) - 1  # the last note is drawn, not read
    for i, inputs in enumerate(steps):
        n = int(fed[i])
        if n == len(kept):
            want = [NONE, 0, 0]
        else:
            want = [int(kept["time"][n]) - time[i], int(kept["pitch"][n]), 1]
        got = [int(inputs[k][0, 0]) for k in ("ahead_gap", "ahead_pitch", "ahead_track")]
        assert got == want, i
        assert int(inputs["kept_tracks"][0, 0]) == 2
    windowed = draw("window")
    for field in ("pitch", "step", "duration", "track", "time", "kept"):
        assert torch.equal(out[field], windowed[field]), field


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.ahead=0.5"],
            "data.ahead=0.5 trains for accompaniment, but the network does not read the kept "
            "music ahead: set task.encoder.ahead_dim (e.g. 32), or data.ahead=0",
        ),
        (
            ["task.encoder.ahead_dim=8"],
            "task.encoder.ahead_dim reads the kept music ahead, but data.ahead=0 never trains "
            "it: set data.ahead (e.g. 0.5, as experiment=lakh_accompany), or "
            "task.encoder.ahead_dim=0",
        ),
        (
            ["data.ahead=0.5", "task.encoder.ahead_dim=8", "data.stream=true"],
            "data.ahead draws kept tracks window by window, data.stream runs whole songs: "
            "set one of them off",
        ),
    ],
)
def test_ahead_without_its_input_or_with_streams_is_one_line(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        check_config(compose_checked("train", overrides))
    assert str(info.value) == message
    check_config(compose_checked("train", ["data.ahead=0.5", "task.encoder.ahead_dim=8"]))


def test_a_primers_notes_read_the_next_kept_note_in_the_primer_or_after_it() -> None:
    """A primer of the song's own first bars (``accompany_from``), every track: Piano (kept)
    at 0, drums at 12, Piano at 24 (pitch 55), Bass at 36; the kept notes after it: Piano at
    48 (60) and 72. After the Piano at 0 and the drums, the primer's own Piano at 24 (gaps
    24, 12); after it and the Bass, the first kept note (gaps 24, 12)."""
    kept = {
        "time": torch.tensor([[48, 72]]),
        "pitch": torch.tensor([[60, 62]]),
        "step": torch.tensor([[0.5, 1.0]]),
        "duration": torch.tensor([[1.0, 1.0]]),
        "track": torch.tensor([[1, 1]]),
        "velocity": torch.tensor([[80, 80]]),
    }
    given = _Kept(kept, 1, 4, 24, list(range(5)), given=[1])
    primer = {
        "time": torch.tensor([[0, 12, 24, 36]]),
        "pitch": torch.tensor([[52, 38, 55, 40]]),
        "track": torch.tensor([[1, 0, 1, 3]]),
    }
    out = given.ahead_of_primer(primer)
    assert out["ahead_gap"].tolist() == [[24, 12, 24, 12]]
    assert out["ahead_pitch"].tolist() == [[55, 55, 60, 60]]
    assert out["ahead_track"].tolist() == [[1, 1, 1, 1]] and out["kept_tracks"].tolist() == [
        [2] * 4
    ]
    fed = given.ahead(torch.tensor([30]))  # after a note at 30: the first kept note, 18 ahead
    assert [int(fed[k][0]) for k in ("ahead_gap", "ahead_pitch", "kept_tracks")] == [18, 60, 2]
    given.next[0] = 2  # every kept note fed: none ahead
    assert int(given.ahead(torch.tensor([80]))["ahead_gap"][0]) == NONE
    unnamed = _Kept(kept, 1, 4, 24, list(range(5)))  # no kept track named: the given notes
    assert unnamed.ahead_of_primer(primer)["ahead_gap"].tolist() == [[48, 36, 24, 12]]
