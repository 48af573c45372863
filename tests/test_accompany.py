"""Accompaniment: a file's kept tracks written note for note, the model's notes drawn around
them on the other tracks, in time order, for every backbone and both head designs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

from musegen.config_checks import compose_checked
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.pianoroll_notes import song_to_notes
from musegen.errors import UserError
from musegen.generate import run_generation
from musegen.generation.accompany import accompany, split_piece
from musegen.generation.accompany_file import AccompanyError, resolve_tracks
from musegen.generation.continuation import DecodeOptions
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.time_classes import TimeClasses
from tests.conftest import LMD_MIDI, MODELS, ROOT, need, run_cli

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
FIELDS = ("time", "pitch", "duration", "velocity", "track")


def _song() -> np.ndarray:
    files = sorted(need(LMD_MIDI).glob("*.mid"))
    return song_to_notes(midi_to_song(files[1]))  # piano and drums in its first bars


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
