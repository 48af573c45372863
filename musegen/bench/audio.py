"""Audio rendering speed: TinySoundFont (the default) against FluidSynth, same pieces.

``python -m musegen.bench.audio``: renders real Lakh MIDI files of ``../shared/data`` (else
Bach chorales written as MIDI) with both synthesizers and pretty_midi's SoundFont, and
reports seconds of audio rendered per second of wall time. Without FluidSynth (Debian's
``libfluidsynth3``) only the default is measured. Beside the speed, how alike the two
renderings are: the correlation of their loudness envelopes (RMS in 50 ms frames), so a
reader can tell that both play the same notes (docs/generation.md, "Audio").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from musegen.bench.report import Row
from musegen.bench.timing import best_of
from musegen.data.bach import build_bach
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.notes_to_midi import notes_to_midi
from musegen.data.pianoroll_notes import song_to_notes
from musegen.render import audio as A

LAKH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lmd_midi"
RATE = A.SAMPLE_RATE


def pieces(count: int, folder: Path) -> list[Path]:
    """MIDI files to render: Lakh files, else chorales written by music21."""
    if LAKH.is_dir():
        return sorted(LAKH.glob("*.mid"))[:count]
    built = build_bach(folder / "bach", max_songs=count, progress=False)
    return [
        notes_to_midi(song_to_notes(read_lpd_npz(p)), folder / f"{i}.mid")
        for i, p in enumerate(built)
    ]


def envelope(audio: np.ndarray, frame: int = RATE // 20) -> np.ndarray:
    n = audio.size // frame
    return np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))


def run(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.audio", description=__doc__)
    parser.add_argument("--pieces", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="musegen-bench-") as tmp:
        files = pieces(args.pieces, Path(tmp))
        seconds = sum(A.render_tinysoundfont(f, RATE).size for f in files) / RATE
        tsf = best_of(lambda: [A.render_tinysoundfont(f, RATE) for f in files], args.repeats)
        fluid_reason = A.audio_unavailable("fluidsynth")
        fluid, alike = None, ""
        if fluid_reason is None:
            fluid = best_of(lambda: [A.render_fluidsynth(f, RATE) for f in files], args.repeats)
            corr = []
            for f in files:
                a, b = (
                    envelope(A.render_tinysoundfont(f, RATE)),
                    envelope(A.render_fluidsynth(f, RATE)),
                )
                n = min(a.size, b.size)
                corr.append(np.corrcoef(a[:n], b[:n])[0, 1])
            alike = f"loudness envelopes correlate {np.mean(corr):.2f} (mean over pieces)"
    note = alike or f"FluidSynth absent: {fluid_reason}"
    print(
        f"audio: {seconds:.0f} s of music from {len(files)} files; tinysoundfont "
        f"{seconds / tsf.best:.0f}x real time"
        + (f", fluidsynth {seconds / fluid.best:.0f}x; {alike}" if fluid else f"; {note}")
    )
    return [
        Row(
            "audio",
            f"rendering {len(files)} MIDI files ({seconds:.0f} s of music) at {RATE} Hz",
            "s of audio per s",
            seconds / tsf.best,
            "tinysoundfont (the default)",
            None if fluid is None else seconds / fluid.best,
            "" if fluid is None else "FluidSynth (pretty_midi)",
            higher_is_better=True,
            note=note,
        )
    ]


def main(argv: list[str] | None = None) -> None:
    run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
