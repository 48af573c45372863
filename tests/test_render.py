"""A sample's files: MIDI, npz, PNG and WAV parse back, are complete, and appear together."""

from __future__ import annotations

import ctypes.util
import logging
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pyloudnorm
import pytest
from PIL import Image

from musegen.atomic import file_mode
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.note_timing import note_onsets
from musegen.data.pianoroll_notes import notes_to_song, song_to_notes
from musegen.data.tracks import LPD5_PROGRAMS
from musegen.metrics.references import UnigramSampler
from musegen.render import audio as A
from musegen.render import outputs
from musegen.render.pianoroll_png import plot_pianoroll
from tests.conftest import LMD_MIDI, LPD5_FILE, need

PRIMER = 120


@pytest.fixture(scope="module")
def real_sample() -> np.ndarray:
    """The first 400 notes (~10 bars, all five tracks) of LPD-5's own file."""
    return song_to_notes(read_lpd_npz(need(LPD5_FILE)))[:400]


def test_sample_files_parse_back(real_sample: np.ndarray, tmp_path: Path) -> None:
    files = outputs.write_sample(real_sample, tmp_path, "song0", PRIMER, audio=False)
    assert set(files) == {"mid", "npz", "png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song0.mid", "song0.npz", "song0.png"]
    # MIDI: one instrument per LPD track, LPD-5 programs, drums on the drum channel, and
    # every note (LPD drum hits are one step long, so none is split)
    midi = pretty_midi.PrettyMIDI(str(files["mid"]))
    assert sum(len(i.notes) for i in midi.instruments) == len(real_sample)
    tracks = np.unique(real_sample["track"]).tolist()
    assert len(midi.instruments) == len(tracks)
    for inst, tid in zip(midi.instruments, tracks, strict=True):
        assert inst.is_drum == (tid == 0)
        assert inst.program == LPD5_PROGRAMS[tid]
        assert len(inst.notes) == int((real_sample["track"] == tid).sum())
    # npz: the very same notes
    back = song_to_notes(read_lpd_npz(files["npz"]))
    for field in ("time", "pitch", "duration", "velocity", "track"):
        np.testing.assert_array_equal(back[field], real_sample[field], err_msg=field)
    # PNG: 1200 px wide, 150 px per track panel plus the title and axis
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(files["png"]) as img:
        img.verify()
    with Image.open(files["png"]) as img:
        assert img.size == (1200, 40 + 150 * len(tracks))
        pixels = np.asarray(img.convert("L"))
    assert 0.005 < (pixels < 200).mean() < 0.5  # notes and lines drawn, not a blank page
    for path in files.values():  # not mkstemp's private 0o600
        assert path.stat().st_mode & 0o777 == file_mode()


def test_generated_sample_without_times(real_sample: np.ndarray, tmp_path: Path) -> None:
    """A primer plus sampled notes that carry only steps (as a model's output does)."""
    cont = UnigramSampler.fit(real_sample).sample(200, np.random.default_rng(0))
    cont["time"] = 0  # no times: onsets come from the steps
    sample = np.concatenate([real_sample[:PRIMER], cont])
    files = outputs.write_sample(sample, tmp_path, "gen", PRIMER, audio=False, track_ids=[0, 1])
    midi = pretty_midi.PrettyMIDI(str(files["mid"]))
    pitched = sample[sample["track"] != 0]
    # each note starts where the running sum of the rounded steps puts it (120 qpm: 48 steps
    # a second), read back from the MIDI file; notes of one pitch and track at one onset are
    # one note (note_timing.end_at_repeats), the sampler draws a few such repeats
    steps = np.rint(sample["step"].astype(np.float64) * 24).astype(np.int64)
    onsets = np.cumsum(steps)  # the times disagree with the steps: the steps alone count
    on = onsets[sample["track"] != 0].tolist()
    keys = set(zip(on, pitched["track"].tolist(), pitched["pitch"].tolist(), strict=True))
    assert len(keys) < len(pitched)  # the case the rule is for is here
    want = sorted((t, p) for t, _, p in keys)
    n_midi = sum(len(i.notes) for i in midi.instruments if not i.is_drum)
    assert n_midi == len(want)
    got = sorted(
        (round(n.start * 48), n.pitch) for i in midi.instruments if not i.is_drum for n in i.notes
    )
    assert got == want
    with Image.open(files["png"]) as img:
        assert img.size == (1200, 40 + 150 * 2)


def test_primer_line_sits_where_notes_to_song_puts_the_first_generated_note(
    real_sample: np.ndarray, tmp_path: Path
) -> None:
    cont = UnigramSampler.fit(real_sample).sample(50, np.random.default_rng(1), real_sample)
    cont["step"][0] = 1.0  # a beat after the primer's last note: the two lines differ
    sample = np.concatenate([real_sample, cont])
    back = song_to_notes(notes_to_song(sample))
    onsets = note_onsets(sample)
    assert set(onsets.tolist()) == set(back["time"].tolist())
    # the drawn dashed line: the one column of the picture where a panel's height is dark
    path = plot_pianoroll(sample, tmp_path / "primer.png", len(real_sample), track_ids=[1])
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("L"))  # (190, 1200): one panel
    panel = pixels[20:160]
    inside = slice(int(0.08 * 1200) + 3, int(0.99 * 1200) - 3)  # the axes, not their frame
    column = inside.start + int(np.argmax((panel[:, inside] < 60).sum(axis=0)))
    n_bars = -(-notes_to_song(sample).n_steps // 96)
    first_new = int(onsets[len(real_sample)])  # where notes_to_song puts the first new note
    expected = 1200 * (0.08 + 0.91 * first_new / 96 / n_bars)
    assert abs(column - expected) <= 2, (column, expected)
    sample["time"] = 0  # inconsistent times: both fall back to the steps
    np.testing.assert_array_equal(
        np.unique(note_onsets(sample)), np.unique(song_to_notes(notes_to_song(sample))["time"])
    )


def test_nothing_is_left_behind_when_a_file_fails(
    real_sample: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "song0.wav").write_bytes(b"old")

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(outputs, "plot_pianoroll", broken)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_sample(real_sample, tmp_path, "song0", PRIMER, audio=False)
    assert [p.name for p in tmp_path.iterdir()] == ["song0.wav"]  # no mid/npz, no staging
    with pytest.raises(ValueError, match="plain file name"):
        outputs.write_sample(real_sample, tmp_path, "a/b", PRIMER)


def test_png_of_nothing_and_atomic_png(tmp_path: Path, real_sample: np.ndarray) -> None:
    path = plot_pianoroll(real_sample[:0], tmp_path / "empty.png")
    with Image.open(path) as img:
        assert img.size == (1200, 190)  # one empty Piano panel
    path = plot_pianoroll(real_sample, tmp_path / "x.png", PRIMER, track_ids=[0, 1, 2, 3, 4])
    assert {p.name for p in tmp_path.iterdir()} == {"empty.png", "x.png"}  # no temp files


def test_audio_skipped_once_with_the_reason(
    real_sample: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(A, "audio_unavailable", lambda synth="": "no synthesizer (test)")
    monkeypatch.setattr(A, "_skipped", set())
    (tmp_path / "song0.wav").write_bytes(b"stale")  # from an earlier run
    with caplog.at_level(logging.WARNING, logger="musegen.render.audio"):
        files = outputs.write_sample(real_sample, tmp_path, "song0", PRIMER)
        assert A.render_wav(files["mid"], tmp_path / "again.wav") is None
    assert "wav" not in files
    assert not (tmp_path / "song0.wav").exists() and not (tmp_path / "again.wav").exists()
    skipped = [r.getMessage() for r in caplog.records if "audio skipped" in r.getMessage()]
    assert skipped == ["audio skipped: no synthesizer (test)"]


@pytest.mark.parametrize(
    ("synth", "module", "advice"),
    [
        ("tinysoundfont", "tinysoundfont", "make install"),
        ("fluidsynth", "fluidsynth", "apt-get install libfluidsynth3"),
    ],
)
def test_audio_unavailable_names_what_to_install(synth: str, module: str, advice: str) -> None:
    """Without the synthesizer's module, the reason says how to install it."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; "
        f"from musegen.render.audio import audio_unavailable; print(audio_unavailable({synth!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert advice in out


def test_fluidsynth_is_available_exactly_when_both_of_its_parts_are() -> None:
    """FluidSynth needs Debian's library and PyPI's bindings; either alone is not audio."""
    import importlib.util

    parts = ctypes.util.find_library("fluidsynth") is not None and (
        importlib.util.find_spec("fluidsynth") is not None
    )
    assert (A.audio_unavailable("fluidsynth") is None) == parts


def _one_note_midi(path: Path, pitch: int, program: int, is_drum: bool, start: float) -> Path:
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=pitch, start=start, end=start + 1.0))
    midi.instruments.append(inst)
    midi.write(str(path))
    return path


def test_tinysoundfont_renders_after_make_install_alone(tmp_path: Path) -> None:
    """The default synthesizer needs no system package: it must render here, not skip."""
    assert A.audio_unavailable("tinysoundfont") is None
    rate = 22050
    # A4 (440 Hz) on a piano, starting at 0.5 s: silence before, its pitch after
    audio = A.render_tinysoundfont(_one_note_midi(tmp_path / "a4.mid", 69, 0, False, 0.5), rate)
    assert audio.size == round(1.5 * rate) + round(A.RELEASE_S * rate)  # note end + release
    assert np.abs(audio[: int(0.45 * rate)]).max() == 0.0
    tone = audio[int(0.6 * rate) : int(1.4 * rate)]
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(tone.size)))
    peak_hz = np.argmax(spectrum) * rate / tone.size
    assert abs(peak_hz - 440.0) < 5.0, peak_hz
    # a drum hit (kick, key 36, on channel 10) sounds too: the drum kit is loaded
    drums = A.render_tinysoundfont(_one_note_midi(tmp_path / "kick.mid", 36, 0, True, 0.0), rate)
    assert np.abs(drums).max() > 0.01


def test_a_lakh_file_with_17_programs_renders(tmp_path: Path) -> None:
    """More programs than MIDI has channels: channels are shared, nothing is dropped."""
    path = need(LMD_MIDI / "00a477426002d2915a74be3e7e6edc04.mid")
    midi = pretty_midi.PrettyMIDI(str(path))
    assert len({i.program for i in midi.instruments if not i.is_drum}) > 15
    audio = A.render_tinysoundfont(path, 8000)
    assert audio.size == round(midi.get_end_time() * 8000) + round(A.RELEASE_S * 8000)
    assert np.abs(audio).max() > 0.01


def test_wav_of_a_real_sample(real_sample: np.ndarray, tmp_path: Path) -> None:
    short = real_sample[:150]
    files = outputs.write_sample(short, tmp_path, "song0", 50, audio=True, sample_rate=22050)
    midi_end = pretty_midi.PrettyMIDI(str(files["mid"])).get_end_time()
    with wave.open(str(files["wav"])) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        seconds = wav.getnframes() / wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert seconds == pytest.approx(midi_end + A.RELEASE_S, abs=0.01)
    assert 0 < np.abs(pcm).max() <= 29204  # -1 dBFS: 10 ** (-1 / 20) * 32767 = 29203.6
    loudness = pyloudnorm.Meter(22050).integrated_loudness(pcm / 32768.0)
    assert loudness == pytest.approx(A.LOUDNESS_TARGET_LUFS, abs=0.1)


def test_wav_written_with_fluidsynth(real_sample: np.ndarray, tmp_path: Path) -> None:
    if A.audio_unavailable("fluidsynth") is not None:
        pytest.skip(f"FluidSynth (optional) absent here: {A.audio_unavailable('fluidsynth')}")
    short = real_sample[:150]
    files = outputs.write_sample(
        short, tmp_path, "song0", 50, audio=True, sample_rate=22050, synth="fluidsynth"
    )
    midi_end = pretty_midi.PrettyMIDI(str(files["mid"])).get_end_time()
    with wave.open(str(files["wav"])) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert midi_end <= seconds <= midi_end + 3  # FluidSynth adds the release tail


def test_write_wav_silence_and_scale(tmp_path: Path) -> None:
    with pytest.raises(A.LoudnessError, match=r"silent, 0\.01 s of zeros$"):
        A.write_wav(np.zeros(100), tmp_path / "silence.wav", 8000)
    with pytest.raises(A.LoudnessError, match=r"shorter than ITU-R BS\.1770-4's 400 ms"):
        A.write_wav(np.array([0.0, 2.0, -1.0]), tmp_path / "x.wav", 8000)
    assert not list(tmp_path.iterdir())
    # BS.1770's calibration: a 997 Hz sine of peak a reads 20 log10(a) - 3.01 LUFS, so at
    # -23 LUFS its peak is 10 ** (-19.99 / 20) = 0.1001, 3280 in 16 bits, whatever its scale
    t = np.arange(22050) / 22050
    path = A.write_wav(7.0 * np.sin(2 * np.pi * 997 * t), tmp_path / "sine.wav", 22050)
    with wave.open(str(path)) as wav:
        pcm = np.frombuffer(wav.readframes(22050), dtype="<i2")
    assert 20 * np.log10(np.abs(pcm).max() / 3280) == pytest.approx(0.0, abs=0.1)
