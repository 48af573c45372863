"""Rendered audio is levelled: real pieces of any density end at one loudness (ITU-R BS.1770-4,
measured here with pyloudnorm on the files read back), no sample clips, and audio that cannot
be levelled (silent, too short, a broken SoundFont) is skipped with one line, not a traceback.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pretty_midi
import pyloudnorm
import pytest
import soundfile

from musegen.render import audio as A
from tests.conftest import LMD_MIDI, SHARED_DATA, need

RATE = A.SAMPLE_RATE
CEILING_PCM = 29204
"""-1 dBFS in 16-bit PCM, by hand: 10 ** (-1 / 20) = 0.891251; 0.891251 * 32767 = 29203.6."""
MIX = "000af203cb1d081a52cea33aaca5fec3.mid"  # 7 parts with drums
SPARSE = "00a7bed4a37a0cf4b9d83f39f5b106f9.mid"  # its drums in bars 16-24: 11 ride hits


def excerpt(
    src: Path,
    dst: Path,
    start: float,
    end: float,
    keep: Callable[[pretty_midi.Instrument], bool] = lambda inst: True,
    transpose: int = 0,
) -> Path:
    """The notes of ``src`` that start in [start, end) s, of the kept parts, moved to 0 s and
    cut at ``end``."""
    midi = pretty_midi.PrettyMIDI(str(src))
    out = pretty_midi.PrettyMIDI()
    for inst in filter(keep, midi.instruments):
        part = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum)
        part.notes = [
            pretty_midi.Note(
                n.velocity, n.pitch + transpose, n.start - start, min(n.end, end) - start
            )
            for n in inst.notes
            if start <= n.start < end
        ]
        if part.notes:
            out.instruments.append(part)
    out.write(str(dst))
    return dst


def bars(src: Path, first: int, count: int = 8) -> tuple[float, float]:
    """Start and end (s) of bars [first, first + count) by the file's own downbeats."""
    downbeats = pretty_midi.PrettyMIDI(str(src)).get_downbeats()
    return float(downbeats[first]), float(downbeats[first + count])


def drums(inst: pretty_midi.Instrument) -> bool:
    return inst.is_drum


@pytest.fixture(scope="module")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three real 8-bar excerpts, dense to sparse (peak-normalised, they measured -14.7,
    -17.1 and -30.1 LUFS)."""
    tmp = tmp_path_factory.mktemp("pieces")
    piano = need(SHARED_DATA / "pop909" / "006.mid")
    mix, sparse = need(LMD_MIDI / MIX), need(LMD_MIDI / SPARSE)
    return {
        "dense piano (POP909 006, 162 notes in 8.3 s)": excerpt(
            piano, tmp / "piano.mid", *bars(piano, 81)
        ),
        "Lakh mix with drums (449 notes in 23.4 s)": excerpt(mix, tmp / "mix.mid", *bars(mix, 0)),
        "sparse drums (11 ride hits in 21.3 s)": excerpt(
            sparse, tmp / "ride.mid", *bars(sparse, 16), keep=drums
        ),
    }


def lufs(audio: np.ndarray, rate: int = RATE) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(audio))


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def skipped(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The module's log lines; each must be one line without a traceback."""
    records = [r for r in caplog.records if r.name == "musegen.render.audio"]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    return [r.getMessage() for r in records]


@pytest.mark.parametrize("piece", [0, 1, 2])
def test_real_pieces_of_any_density_end_at_the_target(
    pieces: dict[str, Path], piece: int, tmp_path: Path
) -> None:
    name, mid = list(pieces.items())[piece]
    wav = A.render_wav(mid, tmp_path / "x.wav")
    assert wav is not None, name
    pcm = read_pcm(wav)
    # the acceptance is 1 dB; levelling lands within 0.06 dB (the sparse drums, limited)
    assert lufs(pcm / 32768.0) == pytest.approx(A.LOUDNESS_TARGET_LUFS, abs=0.1), name
    assert np.abs(pcm.astype(np.int64)).max() <= CEILING_PCM, name
    # as a page serves it: Ogg Vorbis, decoded (measured 0.02-0.36 dB louder, peaks up to
    # 0.5 dB higher: still under full scale)
    data, rate = soundfile.read(str(A.wav_to_ogg(wav, tmp_path / "x.ogg")), dtype="float64")
    assert lufs(data, rate) == pytest.approx(A.LOUDNESS_TARGET_LUFS, abs=1.0), name
    assert np.abs(data).max() < 1.0, name


def test_a_piece_that_would_clip_is_limited_to_the_ceiling(
    pieces: dict[str, Path], tmp_path: Path
) -> None:
    """The sparse ride: at -23 LUFS its hits would peak 7 dB above the ceiling."""
    mid = pieces["sparse drums (11 ride hits in 21.3 s)"]
    raw = A.render_tinysoundfont(mid, RATE).astype(np.float64)
    raw /= np.abs(raw).max()
    over = A.LOUDNESS_TARGET_LUFS - lufs(raw) - A.PEAK_CEILING_DBFS  # peak 0 dBFS at lufs(raw)
    assert over == pytest.approx(7.2, abs=0.1)  # the rule applies: without a limiter it clips
    pcm = read_pcm(A.render_wav(mid, tmp_path / "ride.wav"))
    assert np.abs(pcm.astype(np.int64)).max() == CEILING_PCM  # its loudest hit, at the ceiling
    # the limiter took 1.4 dB of loudness; two more rounds restored all but 0.06 dB
    assert lufs(pcm / 32768.0) == pytest.approx(A.LOUDNESS_TARGET_LUFS, abs=0.1)


def test_a_quiet_rendering_levels_like_a_loud_one(pieces: dict[str, Path], tmp_path: Path) -> None:
    """BS.1770's absolute gate (-70 LUFS) is taken from the piece's own peak: 80 dB quieter
    synth output (every block under the gate) gives the same file, not silence."""
    audio = A.render_tinysoundfont(pieces["Lakh mix with drums (449 notes in 23.4 s)"], RATE)
    loud = read_pcm(A.write_wav(audio, tmp_path / "loud.wav"))
    quiet = read_pcm(A.write_wav(audio * 1e-4, tmp_path / "quiet.wav"))
    np.testing.assert_allclose(quiet, loud, rtol=0, atol=1)  # float32's last bit, rounded


def test_silent_and_too_short_pieces_give_one_line_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mix = need(LMD_MIDI / MIX)
    end = pretty_midi.PrettyMIDI(str(mix)).get_end_time()
    # no notes: the file's parts, emptied
    empty = excerpt(mix, tmp_path / "empty.mid", end + 1, end + 2)
    # notes without sound: its drum part 30 keys lower (keys 5-19); TimGM6mb's kit sounds
    # only on keys 27-87. Its last hit ends at 23.11 s, plus 1 s of release: 24.11 s of zeros
    mute = excerpt(mix, tmp_path / "mute.mid", *bars(mix, 0), keep=drums, transpose=-30)
    keys = {n.pitch for i in pretty_midi.PrettyMIDI(str(mute)).instruments for n in i.notes}
    assert keys == {5, 7, 11, 12, 13, 19}  # 35, 37, 41, 42, 43, 49 (kick ... crash) - 30
    # 0.30 s: the piece's first notes, cut there, rendered with no release tail
    short = excerpt(mix, tmp_path / "short.mid", 0.0, 0.3)
    with caplog.at_level(logging.WARNING, logger="musegen.render.audio"):
        assert A.render_wav(empty, tmp_path / "empty.wav") is None
        assert A.render_wav(mute, tmp_path / "mute.wav") is None
        monkeypatch.setattr(A, "RELEASE_S", 0.0)
        assert A.render_wav(short, tmp_path / "short.wav") is None
    assert skipped(caplog) == [
        "audio skipped: empty.mid: loudness cannot be measured: silent, no samples (no notes)",
        "audio skipped: mute.mid: loudness cannot be measured: silent, 24.11 s of zeros",
        "audio skipped: short.mid: loudness cannot be measured: 0.30 s of audio is shorter "
        "than ITU-R BS.1770-4's 400 ms gating block",
    ]
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".mid", ".mid", ".mid"]


def test_one_gating_block_is_enough(pieces: dict[str, Path], tmp_path: Path) -> None:
    """0.4 s at 22050 Hz is 8820 samples: that many measure, one fewer does not."""
    audio = A.render_tinysoundfont(pieces["dense piano (POP909 006, 162 notes in 8.3 s)"], RATE)
    pcm = read_pcm(A.write_wav(audio[:8820], tmp_path / "block.wav"))
    assert pcm.size == 8820
    assert lufs(pcm / 32768.0) == pytest.approx(A.LOUDNESS_TARGET_LUFS, abs=0.1)
    with pytest.raises(A.LoudnessError, match=r"^loudness cannot be measured: 0\.40 s of audio"):
        A.write_wav(audio[:8819], tmp_path / "short.wav")
    assert not (tmp_path / "short.wav").exists()


def test_a_corrupt_or_absent_soundfont_gives_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    mid = excerpt(need(LMD_MIDI / MIX), tmp_path / "mix.mid", 0.0, 2.0)
    garbage = tmp_path / "garbage.sf2"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    # a SoundFont's header, then garbage: only the synthesizer's parser can tell
    headed = tmp_path / "headed.sf2"
    headed.write_bytes(b"RIFF\xf8\x0f\x00\x00sfbk" + np.random.default_rng(1).bytes(4084))
    absent = tmp_path / "absent.sf2"
    monkeypatch.setattr(A, "_skipped", set())
    with caplog.at_level(logging.WARNING, logger="musegen.render.audio"):
        for font in (garbage, garbage, headed, headed, absent):  # each said once
            assert A.render_wav(mid, tmp_path / "x.wav", soundfont=font) is None
    assert skipped(caplog) == [
        f"audio skipped: SoundFont {garbage} is not a SoundFont (no RIFF 'sfbk' header)",
        f"audio skipped: SoundFont {headed} is corrupt: tinysoundfont cannot load it "
        f"(Could not load SoundFont file: {headed})",
        f"audio skipped: SoundFont {absent} is missing",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.sf2", "headed.sf2", "mix.mid"]
    # FluidSynth's check (its own parser is not asked) still reads the header
    assert "no RIFF 'sfbk' header" in A.soundfont_unavailable(garbage, "fluidsynth")
    assert A.soundfont_unavailable(None, "tinysoundfont") is None  # pretty_midi's loads


def test_audio_description_names_everything_a_listener_needs() -> None:
    assert A.audio_description() == (
        f"tinysoundfont {metadata.version('tinysoundfont')}, SoundFont TimGM6mb.sf2, "
        "22050 Hz mono, loudness-normalised to -23 LUFS (ITU-R BS.1770-4, pyloudnorm "
        f"{metadata.version('pyloudnorm')}), peaks limited to -1 dBFS"
    )
