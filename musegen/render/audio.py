"""A WAV of a MIDI file through FluidSynth, or nothing (said once) when FluidSynth is absent.

Audio needs Debian's ``libfluidsynth3`` (a C library pip cannot install) plus PyPI's
``pyfluidsynth``; ``pretty_midi.PrettyMIDI.fluidsynth`` then renders with the General MIDI
soundfont that ships inside pretty_midi (TimGM6mb.sf2). Audio is optional: everything else
works without it, so ``render_wav`` returns None and logs ``audio skipped: <reason>`` once
per process instead of failing.
"""

from __future__ import annotations

import functools
import logging
import wave
from pathlib import Path

import numpy as np

from musegen.atomic import atomic_path

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
PEAK = 0.9
"""Rendered audio is scaled so that its loudest sample is this fraction of full scale."""

_skip_logged = False


@functools.cache
def audio_unavailable() -> str | None:
    """Why FluidSynth cannot render here, or None when it can (checked once per process).

    ``import fluidsynth`` raises ImportError (pyfluidsynth >= 1.3) or OSError (older
    versions) when the shared library is missing; pretty_midi also records at its own import
    whether pyfluidsynth loaded, and its soundfont must be present.
    """
    try:
        import fluidsynth  # noqa: F401
    except (ImportError, OSError) as exc:
        return (
            f"FluidSynth is not available ({exc}); install Debian's libfluidsynth3 "
            "(apt-get install libfluidsynth3) and pyfluidsynth (pip install 'musegen[audio]')"
        )
    import pretty_midi
    from pretty_midi import fluidsynth as pm_fluidsynth

    if not getattr(pm_fluidsynth, "_HAS_FLUIDSYNTH", True):
        return "pretty_midi was imported before FluidSynth could be loaded; restart the process"
    sf2 = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not sf2.exists():
        return f"pretty_midi's soundfont {sf2} is missing"
    return None


def _log_skip_once(reason: str) -> None:
    global _skip_logged
    if not _skip_logged:
        _skip_logged = True
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


def render_wav(
    midi_path: str | Path, wav_path: str | Path, sample_rate: int = SAMPLE_RATE
) -> Path | None:
    """Render a MIDI file to a WAV with FluidSynth and pretty_midi's soundfont.

    Returns
    -------
    Path or None
        ``wav_path``, or None when FluidSynth is unavailable (logged once per process as
        ``audio skipped: <reason>``).
    """
    reason = audio_unavailable()
    if reason is not None:
        _log_skip_once(reason)
        return None
    import pretty_midi

    audio = pretty_midi.PrettyMIDI(str(midi_path)).fluidsynth(fs=sample_rate)
    return write_wav(audio, wav_path, sample_rate)
