"""A loudness-levelled WAV of a MIDI file through a SoundFont synthesizer, or a line why not.

Two synthesizers (``SYNTHS``):

* ``tinysoundfont`` (the default): PyPI's ``tinysoundfont``, a compiled SoundFont synth
  (TinySoundFont), driven here note event by note event. It needs no system library, so
  ``make install`` alone gives audio. ``make install`` installs it with ``--no-deps``: its
  declared ``pyaudio`` dependency serves live playback only and fails to build without the
  PortAudio headers.
* ``fluidsynth``: FluidSynth through ``pretty_midi.PrettyMIDI.fluidsynth``; needs Debian's
  ``libfluidsynth3`` and PyPI's ``pyfluidsynth`` (``pip install 'musegen[audio]'``).

Both render with the General MIDI SoundFont that ships inside pretty_midi (TimGM6mb.sf2)
unless another is given (Debian's ``fluid-soundfont-gm``, ``/usr/share/sounds/sf2/
FluidR3_GM.sf2``, is richer). docs/generation.md compares the two on the same pieces.
Audio is optional: ``render_wav`` returns None and logs ``audio skipped: <reason>`` once per
process when the chosen synthesizer cannot run or the SoundFont is absent or corrupt
(``soundfont_unavailable``; a corrupt file would otherwise raise inside the synthesizer).

Level: every file is loudness-normalised, not peak-normalised, so that pieces played side by
side on a listening page sound equally loud whatever their density: scaled to one peak, real
8-bar excerpts measured from -13.8 LUFS (dense POP909 piano) to -29.2 LUFS (a ride cymbal
every two seconds), which biases any A/B listening. ``level``, the one place where the scale
of rendered audio is set, measures the integrated loudness of ITU-R BS.1770-4 (K-weighting,
400 ms gating blocks, -70 LUFS absolute and -10 LU relative gates) with PyPI's
``pyloudnorm`` and scales the audio to ``LOUDNESS_TARGET_LUFS`` (-23 LUFS, EBU R128's
programme loudness). A sample above ``PEAK_CEILING_DBFS`` (-1 dBFS, R128's maximum peak; a
sample peak, not BS.1770's oversampled true peak, and room for Ogg Vorbis, whose decoded
peaks came out up to 0.5 dB above the WAV's) is brought down by a look-ahead limiter, and the
loudness is measured and restored again (``LIMITER_PASSES`` rounds), so a limited file still
ends within 0.1 dB of the target.

The target comes from the peak-to-loudness ratio of 8-bar excerpts of real music rendered by
tinysoundfont at 22.05 kHz: 12.5-21.2 dB for 57 Lakh mixes, 11.5-20.0 dB for 39 Lakh bass
parts, 14.2-17.5 dB for 30 POP909 piano pieces. At -23 LUFS all of them peak at or below
-1.8 dBFS and pass untouched. Drum parts alone measured 17.2-29.2 dB (median 19.9): 8 of 37
exceed the 22 dB between the target and the ceiling and are limited, by up to 7.2 dB on their
loudest hits (a lower target would spare a few more of them but turn every file down).

Audio whose loudness BS.1770 cannot measure gets no file: all samples zero (no notes, or notes
the SoundFont has no sound for), nothing above the -70 LUFS gate, or shorter than one 400 ms
gating block (a rendering has at least ``RELEASE_S`` of audio, so only a caller's own audio
or a shorter release can be). ``write_wav`` raises ``LoudnessError`` (one line) and
``render_wav`` logs ``audio skipped: <file>: <reason>`` for each such piece and returns None.
``audio_description`` says in one line how the audio was made, for the listening pages.
"""

from __future__ import annotations

import functools
import logging
import wave
from importlib import metadata
from pathlib import Path

import numpy as np

from musegen.atomic import atomic_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
"""Samples per second of rendered audio: 22.05 kHz keeps a SoundFont's range and halves the
files of 44.1 kHz (samples are committed beside the results)."""
LOUDNESS_TARGET_LUFS = -23.0
"""Integrated loudness (ITU-R BS.1770-4) of every rendered file: EBU R128's programme
loudness, which leaves 22 dB between the loudness and ``PEAK_CEILING_DBFS``, more than the
peak-to-loudness ratio of every real mix, bass and piano excerpt measured (at most 21.2 dB)."""
LOUDNESS_STANDARD = "ITU-R BS.1770-4"
"""The loudness measure, as pyloudnorm implements it (its default meter)."""
PEAK_CEILING_DBFS = -1.0
"""No sample of a rendered file exceeds this (dBFS; 16-bit full scale is 0): EBU R128's
maximum peak, and room for Ogg Vorbis to overshoot the WAV's peak without clipping."""
GATING_BLOCK_S = 0.4
"""BS.1770's gating block: shorter audio has no loudness."""
LIMITER_HOLD_S = 0.005
"""Half the limiter's window: its gain falls over the 10 ms before a peak and recovers over
the 10 ms after it, short enough to take little loudness (limiting the sparsest drum part by
7.2 dB cost 1.4 dB before it was restored) and long enough not to jump from sample to sample."""
LIMITER_PASSES = 3
"""Rounds of measuring, scaling and limiting: the 1.4 dB lost by the hardest case measured
came back to within 0.06 dB in three (0.12 dB in two)."""
SYNTHS = ("tinysoundfont", "fluidsynth")
RELEASE_S = 1.0
"""Seconds rendered after the last note ends, so that it decays instead of stopping."""
DRUM_CHANNEL = 9

_skipped: set[str] = set()


def default_soundfont() -> Path:
    """pretty_midi's bundled General MIDI SoundFont (TimGM6mb.sf2)."""
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@functools.cache
def audio_unavailable(synth: str = "tinysoundfont") -> str | None:
    """Why ``synth`` cannot render here, or None when it can (checked once per process; the
    SoundFont is ``soundfont_unavailable``'s)."""
    if synth not in SYNTHS:
        return f"unknown synth {synth!r}; choose from {list(SYNTHS)}"
    if synth == "tinysoundfont":
        try:
            import tinysoundfont  # noqa: F401
        except ImportError as exc:
            return (
                f"tinysoundfont is not installed ({exc}); `make install` installs it "
                "(pip install --no-deps tinysoundfont==0.3.7)"
            )
        return None
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as exc:
        return (
            f"FluidSynth is not available ({exc}); install Debian's libfluidsynth3 "
            "(apt-get install libfluidsynth3) and pyfluidsynth (pip install 'musegen[audio]')"
        )
    from pretty_midi import fluidsynth as pm_fluidsynth

    if not getattr(pm_fluidsynth, "_HAS_FLUIDSYNTH", True):
        return "pretty_midi was imported before FluidSynth could be loaded; restart the process"
    return None


@functools.cache
def soundfont_unavailable(
    soundfont: str | Path | None = None, synth: str = "tinysoundfont"
) -> str | None:
    """Why ``soundfont`` (default: pretty_midi's) cannot be used by ``synth``, or None when it
    can (checked once per process and file).

    A file that is absent, lacks a SoundFont's ``RIFF``/``sfbk`` header, or (for
    tinysoundfont, when its parser rejects it) is corrupt is reported here, so that it skips
    audio with one line instead of raising inside the synthesizer. FluidSynth's own parser is
    not asked: it accepts compressed SF3 files that TinySoundFont does not, and a file it
    cannot read renders silence, which ``level`` rejects.
    """
    path = Path(soundfont) if soundfont is not None else default_soundfont()
    whose = "pretty_midi's SoundFont" if soundfont is None else "SoundFont"
    if not path.is_file():
        return f"{whose} {path} is missing"
    with path.open("rb") as file:
        head = file.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        return f"{whose} {path} is not a SoundFont (no RIFF 'sfbk' header)"
    if synth == "tinysoundfont":
        import tinysoundfont

        try:
            tinysoundfont.Synth(samplerate=SAMPLE_RATE).sfload(str(path))
        except RuntimeError as exc:
            return f"{whose} {path} is corrupt: tinysoundfont cannot load it ({exc})"
    return None


def audio_description(
    synth: str = "tinysoundfont",
    soundfont: str | Path | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> str:
    """How ``render_wav`` makes audio, in one line for a listening page, so that a listener
    knows what the samples sound through and at what level.

    Returns
    -------
    str
        e.g. ``tinysoundfont 0.3.7, SoundFont TimGM6mb.sf2, 22050 Hz mono,
        loudness-normalised to -23 LUFS (ITU-R BS.1770-4, pyloudnorm 0.2.0), peaks limited to
        -1 dBFS``; a synthesizer that is not installed reads ``not installed`` for its version.
    """
    if synth not in SYNTHS:
        raise ValueError(f"unknown synth {synth!r}; choose from {list(SYNTHS)}")
    dist = {"tinysoundfont": "tinysoundfont", "fluidsynth": "pyfluidsynth"}[synth]
    try:
        version = metadata.version(dist)
    except metadata.PackageNotFoundError:
        version = "not installed"
    made = f"{synth} {version}" if dist == synth else f"{synth} ({dist} {version})"
    font = Path(soundfont).name if soundfont is not None else default_soundfont().name
    return (
        f"{made}, SoundFont {font}, {int(sample_rate)} Hz mono, loudness-normalised to "
        f"{LOUDNESS_TARGET_LUFS:g} LUFS ({LOUDNESS_STANDARD}, pyloudnorm "
        f"{metadata.version('pyloudnorm')}), peaks limited to {PEAK_CEILING_DBFS:g} dBFS"
    )


def _log_skip_once(reason: str) -> None:
    if reason not in _skipped:
        _skipped.add(reason)
        log.warning("audio skipped: %s", reason)


class LoudnessError(ValueError):
    """Audio whose BS.1770 loudness cannot be measured, so it cannot be levelled: silent,
    entirely below the -70 LUFS gate, or shorter than one gating block."""


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness of mono audio (ITU-R BS.1770-4, through pyloudnorm), LUFS.

    Parameters
    ----------
    audio : ndarray, shape=(n_samples,), float
        Full scale is 1.

    Raises
    ------
    LoudnessError
        One line, when the audio is silent (no samples, all zero, or nothing above the -70
        LUFS absolute gate, where pyloudnorm gives -inf) or shorter than ``GATING_BLOCK_S``
        (where pyloudnorm raises).
    """
    import pyloudnorm

    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    seconds = audio.size / sample_rate
    if not audio.size:
        raise LoudnessError("loudness cannot be measured: silent, no samples (no notes)")
    if not audio.any():
        raise LoudnessError(f"loudness cannot be measured: silent, {seconds:.2f} s of zeros")
    if audio.size < GATING_BLOCK_S * sample_rate:
        raise LoudnessError(
            f"loudness cannot be measured: {seconds:.2f} s of audio is shorter than "
            f"{LOUDNESS_STANDARD}'s {GATING_BLOCK_S * 1000:.0f} ms gating block"
        )
    loudness = float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))
    if not np.isfinite(loudness):
        raise LoudnessError(
            f"loudness cannot be measured: silent, nothing above {LOUDNESS_STANDARD}'s "
            "-70 LUFS gate"
        )
    return loudness


def _limit(audio: np.ndarray, sample_rate: int, ceiling: float) -> np.ndarray:
    """``audio`` with its peaks brought down to ``ceiling`` by a smooth gain.

    The gain each sample needs, ``min(1, ceiling / |x|)``, is taken as the minimum over
    ``LIMITER_HOLD_S`` either side and then averaged over the same window. Every sample
    ``t`` lies in the minimum's window of each sample averaged for it, so each average is at
    most the gain ``t`` needs: no sample ends above the ceiling, and the gain moves in ramps
    instead of jumps.
    """
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    need = np.minimum(1.0, ceiling / np.maximum(np.abs(audio), np.finfo(np.float64).tiny))
    size = 2 * round(LIMITER_HOLD_S * sample_rate) + 1
    gain = uniform_filter1d(minimum_filter1d(need, size, mode="nearest"), size, mode="nearest")
    return audio * gain


def level(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Scale audio to ``LOUDNESS_TARGET_LUFS``, its peaks limited to ``PEAK_CEILING_DBFS``.

    The audio is first scaled to a peak of 1, so that BS.1770's absolute gate (-70 LUFS)
    sits 70 dB below the piece's own peak whatever the synthesizer's output level. Then,
    up to ``LIMITER_PASSES`` times: measure, scale to the target, and stop if no sample
    exceeds the ceiling, else limit. The last limiting may leave the loudness slightly under
    the target (0.06 dB in the hardest real case measured); the ceiling always holds.

    Parameters
    ----------
    audio : ndarray, shape=(n_samples,), float
        Any scale.

    Returns
    -------
    ndarray, shape=(n_samples,), float64
        Full scale is 1.

    Raises
    ------
    LoudnessError
        When its loudness cannot be measured (``integrated_loudness``).
    """
    out = np.asarray(audio, dtype=np.float64).reshape(-1)
    if out.any():
        out = out / np.max(np.abs(out))
    ceiling = 10.0 ** (PEAK_CEILING_DBFS / 20.0)
    for _ in range(LIMITER_PASSES):
        loudness = integrated_loudness(out, sample_rate)
        out = out * 10.0 ** ((LOUDNESS_TARGET_LUFS - loudness) / 20.0)
        if np.max(np.abs(out)) <= ceiling:
            return out
        out = _limit(out, sample_rate, ceiling)
    return out


def write_wav(audio: np.ndarray, path: str | Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono audio as a 16-bit PCM WAV, atomically, levelled by ``level``: at
    ``LOUDNESS_TARGET_LUFS`` with no sample above ``PEAK_CEILING_DBFS``, so that every file
    sounds as loud as the others.

    Parameters
    ----------
    audio : ndarray, shape=(n_samples,), float
        Any scale.

    Raises
    ------
    LoudnessError
        One line, before any file is written, when the audio is silent or too short for its
        loudness to be measured (``integrated_loudness``); ``render_wav`` logs it instead.
    """
    pcm = np.rint(level(audio, sample_rate) * 32767).astype("<i2")
    path = Path(path)
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate))
        wav.writeframes(pcm.tobytes())
    return path


def channels(midi: object) -> list[int]:
    """A MIDI channel for each instrument: drums on channel 10, every distinct program on a
    channel of its own (instruments sharing a program share it); past 15 programs the
    channels are reused, the later program taking the channel."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    by_program: dict[int, int] = {}
    out = []
    for inst in midi.instruments:  # type: ignore[attr-defined]
        if inst.is_drum:
            out.append(DRUM_CHANNEL)
            continue
        if inst.program not in by_program:
            by_program[inst.program] = free[len(by_program) % len(free)]
        out.append(by_program[inst.program])
    return out


def note_events(midi: object, sample_rate: int) -> tuple[np.ndarray, ...]:
    """A PrettyMIDI's notes as time-ordered events for a synthesizer.

    Returns
    -------
    at, on, channel, key, velocity : ndarray, shape=(2 * n_notes,)
        Sample index of each event, whether it starts a note, and its channel (instruments in
        order, drums on channel 10), key and velocity; a note's end comes before another
        note's start at the same sample, so a repeated key sounds again.
    """
    cols: list[list[np.ndarray]] = [[], [], [], [], []]
    for inst, chan in zip(midi.instruments, channels(midi), strict=True):  # type: ignore[attr-defined]
        if not inst.notes:
            continue
        arr = np.array([(n.start, n.end, n.pitch, n.velocity) for n in inst.notes], dtype=float)
        n = len(arr)
        for column, on in ((0, True), (1, False)):
            cols[0].append(np.rint(arr[:, column] * sample_rate).astype(np.int64))
            cols[1].append(np.full(n, on))
        cols[2].append(np.full(2 * n, chan))
        cols[3].append(np.tile(arr[:, 2].astype(np.int64), 2))
        cols[4].append(np.tile(arr[:, 3].astype(np.int64), 2))
    if not cols[0]:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(5))
    at, on, chan, key, vel = (np.concatenate(c) for c in cols)
    order = np.lexsort((on, at))  # by time, note-offs (False) first
    return at[order], on[order], chan[order], key[order], vel[order]


def render_tinysoundfont(
    midi_path: str | Path, sample_rate: int = SAMPLE_RATE, soundfont: str | Path | None = None
) -> np.ndarray:
    """Mono float32 audio of a MIDI file through TinySoundFont."""
    import pretty_midi
    import tinysoundfont

    midi = pretty_midi.PrettyMIDI(str(midi_path))
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(str(soundfont or default_soundfont()))
    for inst, chan in zip(midi.instruments, channels(midi), strict=True):
        if inst.notes and inst.is_drum:
            synth.program_select(DRUM_CHANNEL, sfid, 128, 0, True)
        elif inst.notes:
            synth.program_select(chan, sfid, 0, inst.program)
    at, on, chan, key, vel = note_events(midi, sample_rate)
    total = int(at.max()) + int(RELEASE_S * sample_rate) if at.size else 0
    out = np.zeros(total, dtype=np.float32)
    cursor = 0
    events = zip(at.tolist(), on.tolist(), chan.tolist(), key.tolist(), vel.tolist(), strict=True)
    for t, is_on, c, k, v in events:
        if t > cursor:
            block = np.frombuffer(synth.generate(t - cursor), dtype=np.float32)
            out[cursor:t] = block.reshape(-1, 2).mean(axis=1)
            cursor = t
        if is_on:
            synth.noteon(c, k, v)
        else:
            synth.noteoff(c, k)
    if total > cursor:
        block = np.frombuffer(synth.generate(total - cursor), dtype=np.float32)
        out[cursor:] = block.reshape(-1, 2).mean(axis=1)
    return out


def render_fluidsynth(
    midi_path: str | Path, sample_rate: int = SAMPLE_RATE, soundfont: str | Path | None = None
) -> np.ndarray:
    """Mono audio of a MIDI file through FluidSynth (pretty_midi's renderer)."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(midi_path))
    return midi.fluidsynth(fs=sample_rate, synthesizer=str(soundfont or default_soundfont()))


RENDERERS = {"tinysoundfont": render_tinysoundfont, "fluidsynth": render_fluidsynth}


def render_wav(
    midi_path: str | Path,
    wav_path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    synth: str = "tinysoundfont",
    soundfont: str | Path | None = None,
) -> Path | None:
    """Render a MIDI file to a WAV, levelled to ``LOUDNESS_TARGET_LUFS`` (``write_wav``).

    Returns
    -------
    Path or None
        ``wav_path``; or None, and no file, when ``synth`` is unavailable or ``soundfont``
        (default: pretty_midi's) is absent or corrupt (logged once per process as
        ``audio skipped: <reason>``), or when the piece is silent or too short for its
        loudness to be measured (logged for each piece as ``audio skipped: <MIDI file name>:
        <reason>``).
    """
    reason = audio_unavailable(synth) or soundfont_unavailable(soundfont, synth)
    if reason is not None:
        _log_skip_once(reason)
        return None
    audio = RENDERERS[synth](midi_path, sample_rate, soundfont)
    try:
        return write_wav(audio, wav_path, sample_rate)
    except LoudnessError as err:
        log.warning("audio skipped: %s: %s", Path(midi_path).name, err)
        return None


def ogg_unavailable() -> str | None:
    """Why Ogg Vorbis cannot be written here (``soundfile`` missing, or a libsndfile without
    Ogg), or None when it can: asked before a command spends minutes on what it would
    encode. Not cached: installing ``soundfile`` takes effect in a running notebook."""
    try:
        import soundfile
    except (ImportError, OSError) as exc:
        return f"Ogg audio needs soundfile (pip install 'musegen[audio]'): {exc}"
    if "OGG" not in soundfile.available_formats():
        return f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write Ogg Vorbis"
    return None


def wav_to_ogg(wav: str | Path, ogg: str | Path) -> Path:
    """Encode a WAV as Ogg Vorbis (through ``soundfile``'s libsndfile), atomically.

    Raises
    ------
    RuntimeError
        One line when Ogg cannot be written here (``ogg_unavailable``).
    """
    reason = ogg_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    import soundfile

    data, rate = soundfile.read(str(wav), dtype="float32")
    with atomic_path(Path(ogg)) as tmp:
        soundfile.write(str(tmp), data, rate, format="OGG", subtype="VORBIS")
    return Path(ogg)
