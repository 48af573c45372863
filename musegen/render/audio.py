"""A WAV of a MIDI file, through a SoundFont synthesizer, or nothing (said once) without one.

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
process when the chosen synthesizer cannot run.
"""

from __future__ import annotations

import functools
import logging
import wave
from pathlib import Path

import numpy as np

from musegen.atomic import atomic_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
"""Samples per second of rendered audio: 22.05 kHz keeps a SoundFont's range and halves the
files of 44.1 kHz (samples are committed beside the results)."""
PEAK = 0.9
"""Rendered audio is scaled so that its loudest sample is this fraction of full scale."""
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
    """Why ``synth`` cannot render here, or None when it can (checked once per process)."""
    if synth not in SYNTHS:
        return f"unknown synth {synth!r}; choose from {list(SYNTHS)}"
    if not default_soundfont().exists():
        return f"pretty_midi's soundfont {default_soundfont()} is missing"
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


def _log_skip_once(reason: str) -> None:
    if reason not in _skipped:
        _skipped.add(reason)
        log.warning("audio skipped: %s", reason)


def write_wav(audio: np.ndarray, path: str | Path, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono audio as a 16-bit PCM WAV, atomically, peak-normalised to ``PEAK``.

    Parameters
    ----------
    audio : ndarray, shape=(n_samples,), float
        Any scale; silence (all zeros, or no samples) is written as is.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    scale = PEAK / peak if peak > 0 else 0.0
    pcm = np.rint(audio * scale * 32767).astype("<i2")
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
    """Render a MIDI file to a WAV.

    Returns
    -------
    Path or None
        ``wav_path``, or None when ``synth`` is unavailable (logged once per process as
        ``audio skipped: <reason>``).
    """
    reason = audio_unavailable(synth)
    if reason is not None:
        _log_skip_once(reason)
        return None
    audio = RENDERERS[synth](midi_path, sample_rate, soundfont)
    return write_wav(audio, wav_path, sample_rate)


def wav_to_ogg(wav: str | Path, ogg: str | Path) -> Path:
    """Encode a WAV as Ogg Vorbis (through ``soundfile``'s libsndfile), atomically.

    Raises
    ------
    RuntimeError
        One line when ``soundfile`` is missing (``pip install 'musegen[audio]'``).
    """
    try:
        import soundfile
    except (ImportError, OSError) as exc:
        raise RuntimeError(
            f"Ogg audio needs soundfile (pip install 'musegen[audio]'): {exc}"
        ) from None
    data, rate = soundfile.read(str(wav), dtype="float32")
    with atomic_path(Path(ogg)) as tmp:
        soundfile.write(str(tmp), data, rate, format="OGG", subtype="VORBIS")
    return Path(ogg)
