"""Accompaniment: a file's kept tracks written note for note, the model's notes drawn around
them on the other tracks, in time order, for every backbone and both head designs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

import musegen.generation.accompany as accompany_module
from musegen import pretrained
from musegen.checks import ConfigError
from musegen.config_checks import compose_checked
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.performance import Performance
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.errors import UserError
from musegen.generate import run_generation
from musegen.generation.accompany import _piece, accompany, split_piece, stop_time
from musegen.generation.accompany_file import AccompanyError, resolve_tracks
from musegen.generation.continuation import DecodeOptions
from musegen.generation.decode import _Kept, generate, start_notes
from musegen.generation.notes import model_track_ids, notes_to_tensors
from musegen.generation.sampling import Picker, Sampling
from musegen.models.checkpoint import load_network
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.time_classes import TimeClasses
from tests.conftest import LMD_MIDI, MODELS, ROOT, need, run_cli

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
FIELDS = ("time", "pitch", "duration", "velocity", "track")


def _song() -> np.ndarray:
    files = sorted(need(LMD_MIDI).glob("*.mid"))
    return song_to_notes(midi_to_song(files[1]))  # piano and drums in its first bars


def _assert_no_restarts(drawn: np.ndarray, tracks: tuple[int, ...] = (0, 3)) -> None:
    """No drawn key starts again on its track while it still sounds there (by hand)."""
    for track in tracks:
        notes = drawn[drawn["track"] == track]
        for pitch in np.unique(notes["pitch"]):
            same = notes[notes["pitch"] == pitch]
            ends = same["time"] + np.round(same["duration"] * 24).astype(int)
            assert (same["time"][1:] >= ends[:-1]).all(), (track, pitch)


def _net(backbone: str, heads: str) -> NoteNet:
    from omegaconf import OmegaConf

    net = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{backbone}.yaml").net)
    net["hidden_size"] = 32  # every backbone as configured, made small
    torch.manual_seed(0)
    config = NoteNetConfig(
        net,
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=8, max_beats=16)),
        heads=HeadsConfig(heads, ("track", "pitch", "step", "duration"), 16),
        context=50,
    )
    return NoteNet(config).eval()


@pytest.mark.parametrize("heads", ["chained", "independent"])
@pytest.mark.parametrize("backbone", MODELS)
@pytest.mark.parametrize("bars", [0, 2])
def test_kept_notes_stay_and_drawn_ones_go_around_them(
    backbone: str, heads: str, bars: int
) -> None:
    song = _song()
    primer, kept, cut = split_piece(song, [1], bars, 96, max_bars=6)
    assert cut and len(kept) > 20 and (primer["time"] < bars * 96).all()
    net = _net(backbone, heads)
    options = DecodeOptions(seed=1, tracks=("Drums", "Bass"))
    piece = accompany(net, primer, kept, list(range(5)), options)
    assert all(np.array_equal(piece[: len(primer)][f], primer[f]) for f in FIELDS)
    body = piece[len(primer) :]
    mine = body[body["track"] == 1]
    assert all(np.array_equal(mine[f], kept[f]) for f in FIELDS)  # note for note
    drawn = body[body["track"] != 1]
    assert len(drawn) and set(np.unique(drawn["track"]).tolist()) <= {0, 3}
    assert np.all(np.diff(piece["time"]) >= 0)  # in time order
    assert body["time"].max() <= kept["time"].max() + 96  # to the end of the kept music
    for t in np.intersect1d(drawn["time"], mine["time"]):  # a shared onset: the data's order
        at = body[body["time"] == t]
        first_kept = np.flatnonzero(at["track"] == 1)[0]
        before = at["track"][:first_kept]
        assert (before == 0).all() and (at["track"][first_kept:] != 0).all()


def test_the_tracks_are_checked_in_one_line() -> None:
    model, in_file = ["Drums", "Piano", "Bass"], ["Piano", "Drums"]
    assert resolve_tracks(["piano"], None, model, in_file) == (["Piano"], ["Drums", "Bass"])
    assert resolve_tracks(None, ["Bass"], model, in_file) == (["Drums", "Piano"], ["Bass"])
    with pytest.raises(AccompanyError, match=r"keep and tracks both name Piano"):
        resolve_tracks(["Piano"], ["Piano", "Bass"], model, in_file)
    with pytest.raises(
        AccompanyError, match=r"has none of the kept tracks \[Bass\]; it has \[Piano, Drums\]"
    ):
        resolve_tracks(["Bass"], ["Drums"], model, in_file)
    with pytest.raises(UserError, match=r"keep: Strings is not a track of this model"):
        resolve_tracks(["Strings"], None, model, in_file)


def _midi(path: Path) -> Path:
    """Two bars of piano chords and a guitar line (not modelled by the run's three tracks)."""
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, qpm=96.0))
    piano = symusic.Track("piano", 0, False)
    times = np.repeat(np.arange(16) * 480, 3)
    piano.notes = symusic.Note.from_numpy(
        times.astype(np.int32),
        np.full(48, 440, np.int32),
        np.tile([60, 64, 67], 16).astype(np.int8),
        np.full(48, 70, np.int8),
    )
    guitar = symusic.Track("guitar", 25, False)
    guitar.notes = symusic.Note.from_numpy(
        np.arange(8, dtype=np.int32) * 960, np.full(8, 900, np.int32),
        np.full(8, 52, np.int8), np.full(8, 80, np.int8),
    )  # fmt: skip
    score.tracks.append(piano)
    score.tracks.append(guitar)
    path.write_bytes(score.dumps_midi())
    return path


def test_a_users_file_is_accompanied_at_its_tempo(lakh_run: Path, tmp_path: Path) -> None:
    source = _midi(tmp_path / "mine.mid")
    out = tmp_path / "out"
    cfg = compose_checked(
        "generate",
        [
            f"ckpt_path={lakh_run / 'checkpoints' / 'last.ckpt'}",
            f"out_dir={out}",
            f"accompany={source}",
            "keep=[Piano]",
            "num_samples=2",
            "audio=false",
        ],
    )
    summary = run_generation(cfg, ["keep=[Piano]"])
    assert summary["keep"] == ["Piano"] and summary["tracks"] == ["Drums", "Bass"]
    given = [
        (n.time, n.pitch, n.duration, n.velocity)
        for n in symusic.Score(str(source)).tracks[0].notes
    ]
    for i in range(2):
        score = symusic.Score(str(out / f"sample_{i:03d}.mid"))
        assert [round(t.qpm, 3) for t in score.tempos] == [96.0]
        piano = next(t for t in score.tracks if t.name == "Piano")
        ticks = score.ticks_per_quarter  # the written file's: 24 a beat
        scale = 480 // ticks
        got = [(n.time * scale, n.pitch, n.duration * scale, n.velocity) for n in piano.notes]
        assert sorted(got) == sorted(given)  # note for note: onset, pitch, length, velocity
        others = {t.name for t in score.tracks} - {"Piano"}
        assert others <= {"Drums", "Bass"}  # drawn on the accompaniment tracks only
    assert json.loads((out / "generation.json").read_text())["kept_notes"] == 48


def test_an_accompaniment_of_a_file_without_the_kept_tracks_is_one_line(
    lakh_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_cli(
        "musegen.generate",
        f"ckpt_path={lakh_run / 'checkpoints' / 'last.ckpt'}",
        f"accompany={_midi(tmp_path / 'mine.mid')}",
        "keep=[Bass]",
        f"hydra.run.dir={out}",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "error: accompany: the file has none of the kept tracks [Bass]; it has [Piano]: set "
        "keep=[...]"
    )
    assert not any(out.glob("sample_*"))


@pytest.mark.parametrize(
    ("names", "kept_track", "drawn_track", "drawn_time", "taken"),
    [
        # Lakh's five tracks: Drums 0, Piano 1, Bass 3; a kept Piano note at step 96
        (TRACKS, 1, 0, 96, False),  # a drum hit on the chord's onset keeps its place first
        (TRACKS, 1, 3, 96, True),  # a bass note there follows the Piano, as in the data
        (TRACKS, 1, 1, 96, True),  # the same track: the music given comes first
        (TRACKS, 1, 0, 97, True),  # any later note gives way
        (TRACKS, 1, 3, 95, False),  # any earlier note is drawn
        # a model of Bass and Drums, in that order: its track 0 is the Bass (LPD-5 id 3),
        # so a drum hit (its track 1, id 0) on the kept Bass's onset still comes first
        (("Bass", "Drums"), 0, 1, 96, False),
        (("Bass", "Drums"), 1, 0, 96, True),
    ],
)
def test_a_drawn_note_on_a_kept_onset_takes_the_training_datas_place(
    names: tuple[str, ...], kept_track: int, drawn_track: int, drawn_time: int, taken: bool
) -> None:
    kept = {
        "time": torch.tensor([[96, 120]]),
        "pitch": torch.tensor([[60, 64]]),
        "step": torch.tensor([[0.0, 1.0]]),
        "duration": torch.tensor([[1.0, 1.0]]),
        "track": torch.tensor([[kept_track, kept_track]]),
        "velocity": torch.tensor([[80, 80]]),
    }
    given = _Kept(kept, 1, 4, 24, model_track_ids(names))
    drawn = {
        "time": torch.tensor([drawn_time]),
        "pitch": torch.tensor([36]),
        "step": torch.tensor([drawn_time / 24 - 2.0]),
        "duration": torch.tensor([0.5]),
        "track": torch.tensor([drawn_track]),
    }
    note = given.first(drawn, torch.tensor([48]), 0)
    assert int(note["pitch"][0]) == (60 if taken else 36)
    assert int(given.next[0]) == int(taken) and int(given.source[0, 0]) == (0 if taken else -1)
    if taken:  # the kept note's own onset and the step to it from the note before (2 beats)
        assert int(note["time"][0]) == 96 and float(note["step"][0]) == 2.0


def test_the_kept_tracks_are_drawn_only_while_a_kept_note_is_left() -> None:
    pick = Picker(Sampling(), torch.Generator(), TRACKS, ("Drums", "Bass"), given=["Piano"])
    logits = torch.tensor([[0.0, 5.0, 9.0, 1.0, 2.0]] * 2)  # the Guitar far ahead of all
    pick.wait(torch.tensor([True, False]))
    masked = pick._track_mask(logits) + logits  # (2, 5)
    inf = float("-inf")
    assert masked.tolist() == [[0.0, 5.0, inf, 1.0, inf], [0.0, inf, inf, 1.0, inf]]
    drawn = pick("track", logits, {})
    assert drawn[0].item() == 1 and drawn[1].item() in (0, 3)  # e^5 against 1 + e: nearly sure
    with pytest.raises(ConfigError) as info:
        Picker(Sampling(), torch.Generator(), TRACKS, ("Drums",), given=["Flute"])
    assert str(info.value) == (
        "keep: Flute is not a track of this model; its tracks are "
        "[Drums, Piano, Guitar, Bass, Strings]"
    )
    plain = Picker(Sampling(), torch.Generator(), TRACKS, ("Drums", "Bass"))
    plain.wait(torch.tensor([True, True]))  # nothing given: the drawn tracks only
    assert torch.isneginf(plain._track_mask(logits)[[1, 2, 4]]).all()


def test_a_draw_on_a_kept_track_feeds_the_next_kept_note_however_late() -> None:
    kept = {
        "time": torch.tensor([[96]]),
        "pitch": torch.tensor([[60]]),
        "step": torch.tensor([[0.0]]),
        "duration": torch.tensor([[1.0]]),
        "track": torch.tensor([[1]]),
        "velocity": torch.tensor([[80]]),
    }
    given = _Kept(kept, 1, 4, 24, list(range(5)), given=[1, 2])  # Piano and Guitar kept
    early = {k: torch.tensor([v]) for k, v in (("time", 50), ("pitch", 40), ("step", 0.5))}
    guitar = given.first({**early, "track": torch.tensor([2])}, torch.tensor([36]), 0)
    assert int(guitar["pitch"][0]) == 60 and int(guitar["time"][0]) == 96  # the Piano's note
    assert float(guitar["step"][0]) == 2.5 and not bool(given.waiting[0])
    drums = given.first({**early, "track": torch.tensor([0])}, torch.tensor([96]), 1)
    assert int(drums["pitch"][0]) == 40  # none left: the draw stands


def test_the_decoder_tells_the_picker_which_pieces_wait_for_a_kept_note() -> None:
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=2)
    given = notes_to_tensors([kept], list(range(5)), "cpu")
    pick = Picker(Sampling(), torch.Generator().manual_seed(0), TRACKS, ("Drums",), given=["Piano"])
    seen = []
    wait = pick.wait
    pick.wait = lambda waiting: (seen.append(bool(waiting[0])), wait(waiting))  # type: ignore[method-assign]
    out = generate(_net("gru", "chained"), start_notes(1), 4 * len(kept), pick, kept=given)
    fed = int((out["kept"][0] >= 0).sum())
    assert fed == len(kept) and seen[0] and not seen[-1]  # waiting until the last kept note
    assert seen.count(True) == int(torch.nonzero(out["kept"][0] == len(kept) - 1)[0, 0]) + 1


def test_the_shipped_lakh_model_accompanies_a_real_song_as_it_learnt() -> None:
    """``pretrained:lakh`` (chained heads, step classes from the bar line, velocity, the keys
    sounding) draws Drums and Bass around a real song's Piano for 4 bars, by hand: the kept
    notes come back note for note; the drawn ones lie on the grid, a drum note is one step,
    no drawn key restarts while it still sounds on its track, velocities are the network's
    (1-127, more than one), and every step is the gap to the note before."""
    net = load_network(pretrained.resolve("pretrained:lakh")).eval()
    primer, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=4)
    options = DecodeOptions(seed=0, tracks=("Drums", "Bass"))
    piece = accompany(net, primer, kept, list(range(5)), options)
    assert len(primer) == 0 and np.all(np.diff(piece["time"]) >= 0)
    mine = piece[piece["track"] == 1]
    assert all(np.array_equal(mine[f], kept[f]) for f in FIELDS)
    drawn = piece[piece["track"] != 1]
    assert {0, 3} == set(np.unique(drawn["track"]).tolist())  # both drawn, nothing else
    steps = np.round(drawn["duration"] * 24)
    assert np.allclose(drawn["duration"] * 24, steps) and (steps >= 1).all()
    assert (steps[drawn["track"] == 0] == 1).all()  # a drum note is a hit
    _assert_no_restarts(drawn)
    assert ((drawn["velocity"] >= 1) & (drawn["velocity"] <= 127)).all()
    assert len(np.unique(drawn["velocity"])) > 1  # drawn, not one velocity for all
    assert np.allclose(piece["step"][1:], np.diff(piece["time"]) / 24)
    assert piece["step"][0] == piece["time"][0] / 24
    assert piece["time"].max() < 4 * 96 + 96  # to the kept music's end


def test_accompany_opens_the_kept_tracks_it_is_given_to_the_draw(monkeypatch) -> None:
    """The picker hears which of the model's tracks the kept notes are on (the Piano, its
    track 1; the Drums, track 0, too where kept), and none where no kept note is given."""
    seen = []

    class Heard(Picker):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.given)

    monkeypatch.setattr(accompany_module, "Picker", Heard)
    song = _song()
    net = _net("gru", "chained")
    _, piano, _ = split_piece(song, [1], 0, 96, max_bars=2)
    both = piano.copy()
    both["track"][::3] = 0  # every third of its notes given as a drum hit
    for kept, draw in ((piano, ("Drums", "Bass")), (both, ("Bass",))):
        options = DecodeOptions(seed=1, tracks=draw)
        accompany(net, np.zeros(0, kept.dtype), kept, list(range(5)), options)
    primer, none, _ = split_piece(song[song["track"] != 2], [2], 1, 96, max_bars=2)
    accompany(net, primer, none, list(range(5)), options)
    assert len(none) == 0 and seen == [[1], [0, 1], []]


@pytest.mark.parametrize("name", ["lakh", "lakh_v1"])
def test_a_hot_draw_accompanies_under_the_continuation_rules(name: str) -> None:
    """Drawn at temperature 2 (the step at 0.5), a shipped network plays notes the rules must
    hold back; by
    hand they hold: every drawn drum note is one step, no drawn key starts again on its
    track while it sounds, no note starts before the one before it, and ``lakh_v1``, which
    draws no velocity, plays each drawn track at one velocity inside the kept music's
    range (77-79: ``Performance.velocities``); the kept notes come back as given,
    velocities too, and the piece ends with them."""
    net = load_network(pretrained.resolve(f"pretrained:{name}")).eval()
    primer, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=8)
    kept["velocity"] = 77
    kept["velocity"][::2] = 77 + np.arange(len(kept[::2])) % 3  # 77-79; the median 77
    hot = Sampling(temperature=2.0, fields=(("step", (("temperature", 0.5),)),))
    options = DecodeOptions(sampling=hot, seed=2, tracks=("Drums", "Bass"))
    piece = accompany(net, primer, kept, list(range(5)), options)
    drawn = piece[piece["track"] != 1]
    assert len(drawn) > 20 and np.all(np.diff(piece["time"]) >= 0)
    hits = drawn["duration"][drawn["track"] == 0]
    assert len(hits) > 5 and (hits == 1 / 24).all()
    _assert_no_restarts(drawn)
    if name == "lakh_v1":  # one velocity a track, the training songs' brought into 77-79
        for track in (0, 3):
            mine = drawn["velocity"][drawn["track"] == track]
            assert len(set(mine.tolist())) == 1 and 77 <= mine[0] <= 79
    end = int((kept["time"] + np.round(kept["duration"] * 24)).max())
    assert drawn["time"].max() < end
    mine = piece[piece["track"] == 1]
    assert all(np.array_equal(mine[f], kept[f]) for f in FIELDS)


def test_the_context_reaches_the_decoder() -> None:
    """``options.context``: re-reading the last half of the network's window (100 notes)
    and carrying the state through draw the same first 100 notes, and pieces that differ
    after."""
    net = load_network(pretrained.resolve("pretrained:lakh")).eval()
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=12)
    empty = np.zeros(0, kept.dtype)
    pieces = [
        accompany(
            net, empty, kept, list(range(5)), DecodeOptions(seed=3, tracks=("Drums",), context=c)
        )
        for c in ("trained", None)
    ]
    assert len(pieces[0]) == len(pieces[1]) > 200
    assert np.array_equal(pieces[0][:100], pieces[1][:100])
    assert not np.array_equal(pieces[0], pieces[1])


def test_a_piece_is_cut_at_its_last_bar_by_hand() -> None:
    """``split_piece``: a note starting on the first step past ``max_bars`` is cut, one on
    the step before stays; a piece without notes is not cut."""
    notes = np.zeros(3, dtype=_song().dtype)
    notes["time"] = [0, 2 * 96 - 1, 2 * 96]
    notes["track"] = 1
    primer, kept, cut = split_piece(notes, [1], 0, 96, max_bars=2)
    assert cut and kept["time"].tolist() == [0, 191] and len(primer) == 0
    _, kept, cut = split_piece(notes[:2], [1], 0, 96, max_bars=2)
    assert not cut and len(kept) == 2
    assert split_piece(notes[:0], [1], 0, 96, max_bars=2)[2] is False


def _positions_net() -> NoteNet:
    """An untrained GRU whose onsets are classes from the bar line (``onset="position"``),
    its durations drawn around two beats."""
    torch.manual_seed(1)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 32, "num_layers": 1},
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(8, max_beats=16, onset="position")),
        heads=HeadsConfig("chained", ("track", "pitch", "step", "duration"), 16),
        context=50,
    )
    net = NoteNet(config).eval()
    with torch.no_grad():
        net.heads.out["duration"].bias[:] = -10.0
        net.heads.out["duration"].bias[40:60] = 10.0  # 40-59 steps
    return net


def test_onsets_from_the_bar_line_accompany_under_the_rules() -> None:
    """A network counting onsets from the bar line: the decoder reads its step classes so.
    Drawn early in the bar (positions 0-11 steps) and held two beats, no drawn key starts
    again while it sounds; with ``on_kept=0`` every drawn note starts on a kept onset (one
    a bar, 30 steps after the line)."""
    net = _positions_net()
    with torch.no_grad():
        net.heads.out["step"].bias[:] = -10.0
        net.heads.out["step"].bias[:12] = 10.0
    one = np.zeros(1, dtype=_song().dtype)
    one[0] = (4 * 96, 60, 0.0, 1.0, 80, 1)  # a Piano note on bar 5
    options = DecodeOptions(seed=1, tracks=("Drums", "Bass"))
    piece = accompany(net, one[:0], one, list(range(5)), options)
    drawn = piece[piece["track"] != 1]
    assert len(drawn) >= 3 and np.all(np.diff(piece["time"]) >= 0)
    _assert_no_restarts(drawn)
    with torch.no_grad():
        net.heads.out["step"].bias[:] = 0.0
    kept = np.zeros(8, dtype=_song().dtype)
    kept["time"] = np.arange(8) * 96 + 30
    kept["pitch"], kept["duration"], kept["velocity"], kept["track"] = 60, 0.25, 80, 1
    on_kept = DecodeOptions(sampling=Sampling(on_kept=0.0), seed=1, tracks=("Drums", "Bass"))
    drawn = accompany(net, kept[:0], kept, list(range(5)), on_kept)
    drawn = drawn[drawn["track"] != 1]
    assert len(drawn) > 10 and np.isin(drawn["time"], kept["time"]).all()


def test_accompany_without_tracks_to_draw_says_so() -> None:
    kept = np.zeros(1, dtype=_song().dtype)
    with pytest.raises(
        ValueError, match=r"^accompany: name the tracks to draw \(options\.tracks\)$"
    ):
        accompany(_net("gru", "chained"), kept[:0], kept, list(range(5)), DecodeOptions())


def _regression_net() -> NoteNet:
    """An untrained LSTM-GRU with the tutorial's heads: step and duration regressed in beats."""
    torch.manual_seed(2)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.LSTMGRUBackbone", "hidden_size": 32},
        n_tracks=5,
        track_names=TRACKS,
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("regression"),
        heads=HeadsConfig("independent"),
        context=50,
    )
    return NoteNet(config).eval()


def test_a_regression_network_accompanies_with_drum_hits() -> None:
    """Step and duration regressed (no classes, so no sounding-keys mask): the kept notes
    come back as given, the piece is in time order, and each drawn drum note is set to one
    step after its draw."""
    primer, kept, _ = split_piece(_song(), [1], 1, 96, max_bars=6)
    piece = accompany(
        _regression_net(),
        primer,
        kept,
        list(range(5)),
        DecodeOptions(seed=4, tracks=("Drums", "Bass")),
    )
    body = piece[len(primer) :]
    mine = body[body["track"] == 1]
    assert all(np.array_equal(mine[f], kept[f]) for f in FIELDS)
    assert np.all(np.diff(piece["time"]) >= 0)
    hits = body["duration"][body["track"] == 0]
    assert len(hits) > 3 and (hits == 1 / 24).all()


def test_drum_hits_off_keeps_the_drawn_lengths() -> None:
    """``drum_hits=False``: an untrained network's drum notes keep the lengths it draws
    (most longer than a step); on, every one is a step."""
    primer, kept, _ = split_piece(_song(), [1], 1, 96, max_bars=6)
    lengths = {}
    for hits in (True, False):
        options = DecodeOptions(seed=4, tracks=("Drums", "Bass"), drum_hits=hits)
        piece = accompany(_net("gru", "chained"), primer, kept, list(range(5)), options)
        lengths[hits] = piece["duration"][len(primer) :][piece["track"][len(primer) :] == 0]
    assert len(lengths[True]) and (lengths[True] == 1 / 24).all()
    assert len(lengths[False]) and (lengths[False] > 1 / 24).any()


def test_the_window_reaches_the_decoder() -> None:
    """``mode="window"``: the decoder re-runs the last ``seq_len`` notes at every note; with
    the shipped Lakh model a window of 4 notes and one of the primer's length (two bars)
    draw different pieces."""
    net = load_network(pretrained.resolve("pretrained:lakh")).eval()
    primer, kept, _ = split_piece(_song(), [1], 2, 96, max_bars=6)
    pieces = [
        accompany(
            net,
            primer,
            kept,
            list(range(5)),
            DecodeOptions(seed=5, tracks=("Drums", "Bass"), mode="window", seq_len=n),
        )
        for n in (4, None)
    ]
    assert len(primer) > 8 and len(pieces[0]) != len(pieces[1])


def _notes(*rows: tuple[int, int, float, int, int]) -> np.ndarray:
    """Notes ``(time, pitch, duration in beats, velocity, LPD-5 track)``, steps unset."""
    notes = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (time, pitch, duration, velocity, track) in enumerate(rows):
        notes[i] = (time, pitch, 0.0, duration, velocity, track)
    return notes


def test_the_accompaniment_stops_at_the_kept_musics_end_by_hand() -> None:
    """``stop_time``: the last end of the kept notes (their onsets plus their lengths on the
    grid), and at least the step after the primer's last onset; 0 for no notes at all."""
    none = _notes()
    primer = _notes((0, 50, 1.0, 80, 1), (100, 52, 0.25, 80, 1))
    kept = _notes((96, 60, 2.0, 80, 1), (120, 64, 0.5, 80, 1))  # ends 144 and 132
    assert stop_time(none, none, 24) == 0
    assert stop_time(primer, none, 24) == 101
    assert stop_time(none, kept, 24) == 144
    assert stop_time(primer, kept, 24) == 144
    assert stop_time(primer, _notes((10, 60, 1 / 24, 80, 1)), 24) == 101  # ends at 11
    assert stop_time(none, kept, 12) == 120 + 6  # half a beat at 12 steps a beat


def _decoded(**columns: list) -> dict[str, torch.Tensor]:
    """A decoder's output for one piece, ``(1, N)`` tensors, from by-hand columns."""
    kinds = {"duration": torch.float32}  # the rest are whole numbers
    return {k: torch.tensor([v], dtype=kinds.get(k, torch.int64)) for k, v in columns.items()}


def test_the_written_piece_takes_the_kept_notes_as_given_by_hand() -> None:
    """``_piece``: a fed kept note is written as the user gave it (its off-grid length and
    velocity 1 too), a drawn one at its drawn time on the grid with its velocity brought
    into 1-127, a drawn note from the stop time on is dropped, a kept note never is; every
    step is the gap to the note before, the first from the piece's start."""
    kept = _notes((12, 60, 0.3, 1, 1), (30, 64, 0.5, 64, 1), (60, 62, 1.0, 90, 1))
    out = _decoded(
        time=[12, 24, 30, 40, 44, 50, 60],
        pitch=[60, 40, 64, 41, 43, 42, 62],
        duration=[0.3, 0.49, 0.5, 1.0, 0.25, 0.5, 1.0],
        velocity=[50, 0, 70, 1, 130, 100, 90],
        track=[1, 3, 1, 3, 0, 0, 1],  # the model's tracks: LPD-5's
        kept=[0, -1, 1, -1, -1, -1, 2],
    )
    piece = _piece(out, _notes(), kept, list(range(5)), 24, None, 48)
    assert piece["time"].tolist() == [12, 24, 30, 40, 44, 60]  # the drawn note at 50 dropped
    for i, k in ((0, 0), (2, 1), (5, 2)):
        assert all(piece[i][f] == kept[k][f] for f in FIELDS)  # as given
    drawn = piece[[1, 3, 4]]
    assert drawn["pitch"].tolist() == [40, 41, 43] and drawn["track"].tolist() == [3, 3, 0]
    assert drawn["duration"].tolist() == [12 / 24, 1.0, 0.25]  # 0.49 beat: 11.76 steps, 12
    assert drawn["velocity"].tolist() == [1, 1, 127]  # 0 raised to 1, 1 kept, 130 to 127
    assert np.allclose(piece["step"], [12 / 24, 12 / 24, 6 / 24, 10 / 24, 4 / 24, 16 / 24])
    early = _piece(out, _notes(), kept, list(range(5)), 24, None, 10)
    assert early["time"].tolist() == [12, 30, 60]  # every kept note, none drawn
    primer = _notes((6, 48, 0.25, 80, 1))
    assert _piece(out, primer, kept, list(range(5)), 24, None, 48)["step"][:2].tolist() == [
        6 / 24,
        6 / 24,
    ]
    nothing = _decoded(time=[], pitch=[], duration=[], velocity=[], track=[])
    assert len(_piece(nothing, _notes(), _notes(), list(range(5)), 24, None, 0)) == 0


def test_a_network_without_velocities_plays_the_performances_given() -> None:
    """A network that draws no velocity: the drawn tracks play the ``Performance`` the
    caller gives (Drums 33, Bass 44), inside the kept music's range (20-100), not
    musegen's default 100."""
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=8)
    kept["velocity"] = 60
    kept["velocity"][:2] = (20, 100)
    performance = Performance(velocity={"Drums": 33, "Bass": 44})
    options = DecodeOptions(seed=1, tracks=("Drums", "Bass"))
    piece = accompany(_net("gru", "chained"), kept[:0], kept, list(range(5)), options, performance)
    for track, velocity in ((0, 33), (3, 44)):
        mine = piece["velocity"][piece["track"] == track]
        assert len(mine) and (mine == velocity).all()


def test_a_network_at_another_resolution_accompanies_on_its_grid() -> None:
    """A network at 48 steps a beat (``data.resolution=48``), its step and duration
    regressed to a quarter beat and 2 beats: every drawn note starts 12 steps after the
    note before it, a drawn Bass note lasts 2 beats, and a drum hit one step of 48."""
    net = _regression_net()
    with torch.no_grad():
        net.heads.timing.weight.zero_()
        net.heads.timing.bias[:] = torch.tensor([0.25, 2.0])
    _, kept, _ = split_piece(_song(), [1], 0, 96, max_bars=8)
    kept["time"] *= 2  # the song read at 48 steps a beat
    options = DecodeOptions(seed=2, tracks=("Drums", "Bass"), resolution=48)
    piece = accompany(net, kept[:0], kept, list(range(5)), options)
    drawn = np.flatnonzero(piece["track"] != 1)
    assert len(drawn) > 5 and drawn[0] > 0
    assert (piece["time"][drawn] - piece["time"][drawn - 1] == 12).all()
    assert (piece["duration"][drawn][piece["track"][drawn] == 3] == 2.0).all()
    assert (piece["duration"][drawn][piece["track"][drawn] == 0] == 1 / 48).all()


def test_accompany_hands_the_picker_the_classes_and_the_kept_harmony_without_drums(
    monkeypatch,
) -> None:
    """The picker gets the network's classes for a field drawn in buckets (the duration
    here), and the kept music it reads ahead holds the Piano's pitch classes at the steps
    they sound (pitch class 0, steps 0-23), not the kept drum hit's (C#, step 48)."""
    seen = []

    class Heard(Picker):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self)

    monkeypatch.setattr(accompany_module, "Picker", Heard)
    kept = _notes((0, 60, 1.0, 80, 1), (48, 37, 1 / 24, 80, 0))
    musical = Sampling(fields=(("duration", (("buckets", "musical"),)),))
    options = DecodeOptions(sampling=musical, seed=1, tracks=("Bass",))
    accompany(_net("gru", "chained"), kept[:0], kept, list(range(5)), options)
    (pick,) = seen
    assert sorted(pick._buckets) == ["duration"]
    sounding = torch.nonzero(pick.kept.classes[0]).tolist()  # (step, pitch class)
    assert sounding == [[step, 0] for step in range(24)]


def test_a_model_without_track_names_cannot_accompany_in_one_line() -> None:
    torch.manual_seed(0)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 16, "num_layers": 1},
        encoder={"pitch_dim": 8, "position_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=8, max_beats=16)),
        heads=HeadsConfig("chained", ("track", "pitch", "step", "duration"), 16),
        context=50,
    )
    kept = _notes((0, 60, 1.0, 80, 1))
    with pytest.raises(ConfigError) as info:
        accompany(NoteNet(config).eval(), kept[:0], kept, [1], DecodeOptions(tracks=("Bass",)))
    assert str(info.value) == "tracks: Bass is not a track of this model; its tracks are []"
