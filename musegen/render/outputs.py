"""Every file of one generated sample, written together.

``write_sample`` writes ``<name>.mid``, ``<name>.npz``, ``<name>.png`` and, when a
synthesizer is available (``render.audio``), ``<name>.wav``. They are first written into a
hidden staging folder inside ``out_dir`` and moved into place only when all of them
succeeded, so a failure (a full disk, an interrupt) leaves no half-written file and no
partial set of a sample's files in ``out_dir``; the staging folder is removed either way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from musegen.atomic import file_mode, temp_dir
from musegen.data.lpd_io import read_lpd_npz, write_lpd_npz
from musegen.data.note_timing import RESOLUTION
from musegen.data.performance import DEFAULT_QPM
from musegen.data.pianoroll_notes import notes_to_song, song_to_notes
from musegen.render.audio import SAMPLE_RATE, render_wav, wav_to_ogg
from musegen.render.pianoroll_png import plot_pianoroll

SUFFIXES: tuple[str, ...] = ("mid", "npz", "png", "wav", "ogg")
AUDIO_FORMATS: tuple[str, ...] = ("wav", "ogg")
"""Keys of ``write_sample``'s result, which are also the files' suffixes."""


def write_sample(
    notes: np.ndarray,
    out_dir: str | Path,
    name: str,
    primer_len: int,
    resolution: int = RESOLUTION,
    tempo: float | np.ndarray = DEFAULT_QPM,
    audio: bool = True,
    track_ids: Sequence[int] | None = None,
    title: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    synth: str = "tinysoundfont",
    audio_format: str = "wav",
    bars: int | None = None,
) -> dict[str, Path]:
    """Write one sample's MIDI, LPD-5 npz, pianoroll PNG and (maybe) WAV into ``out_dir``.

    Parameters
    ----------
    notes : ndarray, shape=(n,), NOTE_DTYPE
        The sample: its primer (the first ``primer_len`` notes) and the continuation;
        ``track`` holds LPD-5 ids.
    out_dir : str or Path
        Destination folder (created).
    name : str
        File stem, a plain name (no folder).
    primer_len : int
        Notes of the primer, marked in the PNG.
    resolution : int
        Time steps per beat.
    tempo : float or ndarray, TEMPO_DTYPE
        Quarter notes per minute of the MIDI, npz and audio files, or a map of the tempo's
        changes (``data.performance``).
    audio : bool
        Render ``<name>.wav`` when ``synth`` is available (see ``render.audio``).
    synth : {"tinysoundfont", "fluidsynth"}
        The synthesizer of the WAV.
    audio_format : {"wav", "ogg"}
        ``ogg``: the audio as Ogg Vorbis instead (about a tenth of the size; for results kept
        in git), key ``"ogg"``.
    track_ids : sequence of int, optional
        PNG panels (default: the tracks that have notes).
    title : str, optional
        PNG title (default ``name``).
    bars : int, optional
        The PNG's time axis in bars (``render.pianoroll_png``): pieces of one song drawn
        with the same ``bars`` line up; default the piece's own length.

    Returns
    -------
    dict of str to Path
        ``{"mid": ..., "npz": ..., "png": ...}`` plus ``"wav"`` (or ``"ogg"``) when audio
        was written. Audio of ``<name>`` left by an earlier run is removed when no new one is
        written, so a sample's files always belong together.
    """
    from musegen.data.notes_to_midi import notes_to_midi

    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"write_sample: name must be a plain file name, got {name!r}")
    notes = np.asarray(notes)
    out_dir = Path(out_dir)
    stage = temp_dir(out_dir / name)
    try:
        staged = {
            "mid": notes_to_midi(notes, stage / f"{name}.mid", resolution, tempo),
            "npz": write_lpd_npz(
                stage / f"{name}.npz", notes_to_song(notes, resolution, name, tempo)
            ),
            "png": plot_pianoroll(
                notes,
                stage / f"{name}.png",
                primer_len,
                resolution,
                track_ids,
                title or name,
                bars=bars,
            ),
        }
        if audio_format not in AUDIO_FORMATS:
            raise ValueError(f"audio_format must be one of {list(AUDIO_FORMATS)}")
        if audio:
            wav = render_wav(staged["mid"], stage / f"{name}.wav", sample_rate, synth)
            if wav is not None and audio_format == "ogg":
                staged["ogg"] = wav_to_ogg(wav, stage / f"{name}.ogg")
                wav.unlink()
            elif wav is not None:
                staged["wav"] = wav
        mode = file_mode()
        written = {}
        for key, src in staged.items():
            os.chmod(src, mode)  # mkstemp made it private (0o600)
            written[key] = out_dir / src.name
            os.replace(src, written[key])
        for suffix in AUDIO_FORMATS:
            if suffix not in written:
                (out_dir / f"{name}.{suffix}").unlink(missing_ok=True)
        return written
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def notes_in_files(files: Mapping[str, Path]) -> dict[str, int]:
    """The notes the written MIDI and npz files hold, read back from them.

    They can be fewer than the notes drawn: notes of one key at one onset are one note in
    both, and a pianoroll (the npz) cannot tell a note from the next of the same key that
    starts as it ends. A drum note longer than a step is that many hits in the MIDI file.
    ``generation.json`` records these beside the notes drawn, so neither count misleads.
    """
    import pretty_midi

    counts = {}
    if "mid" in files:
        midi = pretty_midi.PrettyMIDI(str(files["mid"]))
        counts["mid"] = sum(len(inst.notes) for inst in midi.instruments)
    if "npz" in files:
        counts["npz"] = len(song_to_notes(read_lpd_npz(files["npz"])))
    return counts
