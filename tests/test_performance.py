"""What reaches the ear: tempo maps, velocities, drum hits and same-pitch repeats, from the
note cache to the written MIDI and audio, each checked against values worked out by hand."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

from musegen.config_checks import compose_checked
from musegen.data.datamodule import NoteDataModule
from musegen.data.notes_to_midi import notes_to_midi
from musegen.data.performance import (
    TEMPO_DTYPE,
    Performance,
    excerpt,
    from_steps,
    main_qpm,
    median_velocities,
    seconds,
    to_steps,
    velocity_counts,
)
from musegen.data.pianoroll_notes import NOTE_DTYPE, song_to_notes
from musegen.generate import run_generation
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.runs import load_run
from musegen.metrics.tracks import same_pitch_overlap
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.time_classes import TimeClasses
from musegen.render.audio import RELEASE_S
from tests.conftest import LMD_MIDI, need


def _map(*changes: tuple[int, float]) -> np.ndarray:
    return np.array(list(changes), dtype=TEMPO_DTYPE)


def _rounded(tempo: np.ndarray) -> list[tuple[int, float]]:
    """A tempo map read from MIDI, its qpm to 3 decimals (MIDI keeps whole microseconds per
    quarter note: 82 qpm is stored as 731,707 us, read back as 82.00003)."""
    return [(int(t), round(float(q), 3)) for t, q in tempo.tolist()]


def _notes(rows: list[tuple[int, int, int, int, int]]) -> np.ndarray:
    """(time, pitch, length in steps, velocity, track) rows at resolution 24."""
    out = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (t, p, n, v, k) in enumerate(rows):
        out[i] = (t, p, 0.0, n / 24, v, k)
    out["step"][1:] = np.diff(out["time"]) / 24
    return out


def _midi(path: Path, tempos: list[tuple[int, float]], beats: int = 40) -> Path:
    """A piano line of one quarter note a beat (480 ticks a beat) with these tempo events
    (beat, qpm); none gives a file without a tempo."""
    score = symusic.Score(480)
    for beat, qpm in tempos:
        score.tempos.append(symusic.Tempo(beat * 480, qpm=qpm))
    track = symusic.Track("piano", 0, False)
    scale = np.array([60, 62, 64, 65, 67, 69, 71, 72])
    track.notes = symusic.Note.from_numpy(
        (np.arange(beats) * 480).astype(np.int32),
        np.full(beats, 460, np.int32),
        scale[np.arange(beats) % 8].astype(np.int8),
        np.full(beats, 70, np.int8),
    )
    score.tracks.append(track)
    path.write_bytes(score.dumps_midi())
    return path


def test_tempo_maps_by_hand() -> None:
    tempo = from_steps(np.array([100, 100, 100, 90, 90, 120], dtype=float))
    assert tempo.tolist() == [(0, 100.0), (3, 90.0), (5, 120.0)]
    assert to_steps(tempo, 7).tolist() == [100, 100, 100, 90, 90, 120, 120]
    assert from_steps(np.array([120.0, 120.0 + 1e-9])).tolist() == [(0, 120.0)]  # LPD's noise
    assert excerpt(tempo, 4, 6).tolist() == [(0, 90.0), (1, 120.0)]
    assert excerpt(tempo, 3).tolist() == [(0, 90.0), (2, 120.0)]
    assert excerpt(tempo, 0, 3).tolist() == [(0, 100.0)]
    assert main_qpm(tempo, 6) == 100.0 and main_qpm(_map((0, 100), (1, 90)), 6) == 90.0
    # 3 steps at 100 qpm, 2 at 90, 1 at 120, one step a beat
    assert seconds(tempo, 6, resolution=1) == pytest.approx(3 * 0.6 + 2 * 60 / 90 + 0.5)


def test_velocity_medians_by_hand() -> None:
    track = np.array([1, 1, 1, 1, 3, 3, 3])
    velocity = np.array([10, 40, 20, 30, 9, 5, 7])
    assert median_velocities(velocity_counts(track, velocity)) == {1: 25, 3: 7}
    perf = Performance(velocity={"Piano": 80, "Bass": 90, "Drums": 110})
    primer = _notes([(0, 60, 24, 40, 1), (24, 62, 24, 60, 1), (48, 64, 24, 50, 1)])
    # the primer's Piano median; the tracks it does not play come into its range [40, 60]
    assert perf.velocities(primer).tolist() == [60, 50, 60, 60, 60]
    assert perf.velocities().tolist() == [110, 80, 100, 90, 100]  # unknown: 100
    assert Performance.from_dict(None).tempo == 120.0
    assert "stores none" in Performance.from_dict(None).source


def test_the_note_cache_keeps_each_songs_tempo(tmp_path: Path) -> None:
    folder = tmp_path / "midi"
    folder.mkdir()
    _midi(folder / "a.mid", [(0, 82.0), (8, 90.0)], beats=12)  # 82 qpm for 8 of 12 beats
    _midi(folder / "b.mid", [], beats=12)  # no tempo event: MIDI's 120
    dm = NoteDataModule(
        source="midi", root=str(folder), data_dir=str(tmp_path / "data"), split="test",
        seq_len=4, progress=False, build_workers=1, tracks=["Piano"],
    )  # fmt: skip
    dm.prepare_data()
    dm.setup("test")
    split = dm.splits["test"]
    by_id = {song: i for i, song in enumerate(split.song_ids)}
    assert _rounded(split.tempo(by_id["a"])) == [(0, 82.0), (8 * 24, 90.0)]
    assert _rounded(split.tempo(by_id["b"])) == [(0, 120.0)]
    assert split.main_qpm[by_id["a"]] == pytest.approx(82.0, abs=1e-3)
    perf = dm.performance()
    assert perf.tempo == pytest.approx((82 + 120) / 2, abs=1e-3)
    assert perf.velocity == {"Piano": 70}
    assert perf.source == "the median of the 2 test songs"


def test_the_midi_writer_plays_the_tempo_map_and_ends_repeated_notes(tmp_path: Path) -> None:
    notes = _notes(
        [
            (0, 36, 3, 100, 0),  # a real drum run: three hits on adjacent steps
            (0, 60, 48, 80, 1),  # ends at 24, where the same key starts again
            (0, 64, 10, 80, 1),  # two notes of one key at one onset: one note,
            (0, 64, 30, 90, 1),  # the longer
            (24, 60, 24, 70, 1),
            (24, 60, 24, 70, 2),  # the same pitch on another track is another note
        ]
    )
    path = notes_to_midi(notes, tmp_path / "a.mid", tempo=_map((0, 82.0), (96, 90.0)))
    score = symusic.Score(str(path))  # ticks: one a time step
    assert [(t.time, round(t.qpm, 3)) for t in score.tempos] == [(0, 82.0), (96, 90.0)]
    got = {
        (tr.name, n.time, n.pitch, n.duration, n.velocity) for tr in score.tracks for n in tr.notes
    }
    assert got == {
        ("Drums", 0, 36, 1, 100),
        ("Drums", 1, 36, 1, 100),
        ("Drums", 2, 36, 1, 100),
        ("Piano", 0, 60, 24, 80),
        ("Piano", 0, 64, 30, 90),
        ("Piano", 24, 60, 24, 70),
        ("Guitar", 24, 60, 24, 70),
    }


def test_same_pitch_overlap_by_hand_and_against_a_broken_control() -> None:
    notes = _notes(
        [(0, 60, 48, 80, 1), (0, 64, 10, 80, 1), (0, 64, 30, 80, 1), (24, 60, 24, 80, 1),
         (48, 60, 24, 80, 1), (60, 67, 4, 80, 1), (0, 60, 96, 80, 2)]
    )  # fmt: skip
    # Piano: the second 64 (same onset) and the 60 at 24 (inside 0-48) collide; the 60 at
    # 48 starts as the first one ends: 2 of 6. Guitar: 0 of 1.
    assert same_pitch_overlap(notes, 1) == pytest.approx(2 / 6)
    assert same_pitch_overlap(notes, 2) == 0.0
    assert np.isnan(same_pitch_overlap(notes, 3))
    from musegen.data.midi_to_lpd import midi_to_song

    song = song_to_notes(midi_to_song(sorted(need(LMD_MIDI).glob("*.mid"))[0]))
    real = [same_pitch_overlap(song, t) for t in np.unique(song["track"])]
    assert real and all(v == 0.0 for v in real)  # a pianoroll's notes never collide
    doubled = np.sort(np.concatenate([song, song]), order=("time", "track", "pitch"))
    doubled["step"][1:] = np.diff(doubled["time"]) / 24  # every note played twice at once
    assert all(same_pitch_overlap(doubled, t) == 0.5 for t in np.unique(song["track"]))


def _five_track_net(duration_class: int | None = None) -> NoteNet:
    torch.manual_seed(0)
    config = NoteNetConfig(
        {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 16},
        n_tracks=5,
        track_names=("Drums", "Piano", "Guitar", "Bass", "Strings"),
        encoder={"pitch_dim": 8, "track_dim": 4, "position_dim": 4},
        timing=TimingConfig("categorical", TimeClasses(exact_beats=4, max_beats=8)),
        heads=HeadsConfig("chained", ("track", "pitch", "step", "duration"), 16),
    )
    net = NoteNet(config).eval()
    if duration_class is not None:  # a network sure of a long duration and of the drums
        with torch.no_grad():
            for field, index in (("duration", duration_class), ("track", 0)):
                out = net.heads.out[field]
                out.weight.zero_()
                out.bias.fill_(-20.0)
                out.bias[index] = 20.0
    return net


def test_a_models_drum_note_is_one_hit_and_a_real_drum_run_stays_a_run(tmp_path: Path) -> None:
    """The real drum run of the primer (three adjacent hits, one note of 3 steps) is written
    as three hits; a drum note the network draws as 12 steps long is one hit."""
    net = _five_track_net(duration_class=12 - 1)  # durations start at one step: class 11
    primer = _notes([(0, 36, 3, 100, 0), (0, 60, 24, 80, 1), (24, 38, 1, 100, 0)])
    ids = [0, 1, 2, 3, 4]
    hits = continue_primers(net, [primer], 8, ids, DecodeOptions(seed=0))[0]
    assert (hits["track"] == 0).all() and np.all(hits["duration"] == np.float32(1 / 24))
    as_drawn = continue_primers(net, [primer], 8, ids, DecodeOptions(seed=0, drum_hits=False))[0]
    assert np.all(as_drawn["duration"] == np.float32(12 / 24))  # what the rule is for
    path = notes_to_midi(np.concatenate([primer, hits]), tmp_path / "piece.mid")
    drums = next(t for t in symusic.Score(str(path)).tracks if t.is_drum)
    assert [(n.time, n.pitch) for n in drums.notes if n.time < 3] == [(0, 36), (1, 36), (2, 36)]
    for name, piece in (("hits", hits), ("as_drawn", as_drawn)):
        path = notes_to_midi(piece, tmp_path / f"{name}.mid")
        drums = next(t for t in symusic.Score(str(path)).tracks if t.is_drum)
        drawn = len(set(zip(piece["time"].tolist(), piece["pitch"].tolist(), strict=True)))
        assert {n.duration for n in drums.notes} == {1}
        if name == "hits":
            assert len(drums.notes) == drawn  # one hit a drawn note
        else:
            assert len(drums.notes) > 4 * drawn  # a roll each


def test_a_continuation_starts_at_the_primers_loudness(tmp_path: Path) -> None:
    from musegen.data.midi_to_lpd import midi_to_song

    net = _five_track_net()
    song = song_to_notes(midi_to_song(sorted(need(LMD_MIDI).glob("*.mid"))[1]))
    primer = song[:100].copy()
    primer["velocity"] = 30 + (np.arange(100) * 7) % 21  # 30..50
    loud = Performance(velocity={"Drums": 120, "Piano": 110, "Guitar": 100, "Bass": 127})
    ids = [0, 1, 2, 3, 4]
    piece = continue_primers(net, [primer], 64, ids, DecodeOptions(seed=1), None, loud)[0]
    first_bar = piece[piece["time"] < piece["time"][0] // 96 * 96 + 96]
    assert (
        first_bar.size and first_bar["velocity"].min() >= 30 and first_bar["velocity"].max() <= 50
    )
    counts = velocity_counts(primer["track"], primer["velocity"])
    for tid, value in median_velocities(counts).items():  # a primer's track at its median
        assert np.all(piece["velocity"][piece["track"] == tid] == value)


def _generate(ckpt: Path, out: Path, *args: str) -> dict:
    cfg = compose_checked(
        "generate", [f"ckpt_path={ckpt}", f"out_dir={out}", "num_samples=1", *args]
    )
    return run_generation(cfg, args)


def test_a_primed_piece_plays_at_its_primers_tempo_and_one_from_scratch_at_the_median(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    """A hand-built MIDI primer at 82 qpm that turns to 90 inside the primer (and to 140
    after it): the piece keeps 82 and 90, the continuation plays on at 90; its audio lasts
    as long as the tempo says. From scratch: the training songs' median, which the
    checkpoint stores. A file without a tempo: MIDI's 120, and the record says so."""
    primer = _midi(tmp_path / "primer.mid", [(0, 82.0), (8, 90.0), (30, 140.0)])
    out = tmp_path / "primed"
    summary = _generate(tiny_ckpt, out, f"primer={primer}", "num_notes=16", "audio=true")
    sample = summary["samples"][0]
    assert [(t, round(q, 3)) for t, q in sample["tempo"]["changes"]] == [(0, 82.0), (192, 90.0)]
    assert sample["tempo"]["source"] == "the primer file"
    score = symusic.Score(str(out / "sample_000.mid"))
    assert [(t.time, round(t.qpm, 3)) for t in score.tempos] == [(0, 82.0), (192, 90.0)]
    end = max(n.end for t in score.tracks for n in t.notes)  # ticks: time steps
    with wave.open(str(out / "sample_000.wav")) as wav:
        length = wav.getnframes() / wav.getframerate()
    assert length == pytest.approx(seconds(_map((0, 82.0), (192, 90.0)), end) + RELEASE_S, abs=0.01)
    assert sample["velocity"] == {"Piano": 70}  # the primer's
    # from scratch: the median of the tiny run's training chorales, from the checkpoint
    median = load_run(tiny_ckpt).performance
    assert median.source.startswith("the median of the") and "training songs" in median.source
    scratch = _generate(
        tiny_ckpt, tmp_path / "scratch", "primer=none", "num_notes=8", "audio=false"
    )
    assert scratch["samples"][0]["tempo"]["changes"] == [[0, median.tempo]]
    score = symusic.Score(str(tmp_path / "scratch" / "sample_000.mid"))
    assert [round(t.qpm, 3) for t in score.tempos] == [round(median.tempo, 3)]
    # a primer without a tempo event
    plain = _midi(tmp_path / "plain.mid", [])
    summary = _generate(
        tiny_ckpt, tmp_path / "plain", f"primer={plain}", "num_notes=4", "audio=false"
    )
    tempo = summary["samples"][0]["tempo"]
    assert tempo["changes"] == [[0, 120.0]] and "has no tempo" in tempo["source"]
    # tempo= on the command line: one tempo for every piece
    given = _generate(tiny_ckpt, tmp_path / "given", f"primer={primer}", "num_notes=4",
                      "audio=false", "tempo=100")  # fmt: skip
    assert given["samples"][0]["tempo"]["changes"] == [[0, 100.0]]
    record = json.loads((tmp_path / "given" / "generation.json").read_text())
    assert record["settings_from"] == {"sampling": "run", "context": "run"}
