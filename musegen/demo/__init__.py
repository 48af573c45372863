"""A demo that needs no training: ``make demo`` (``python -m musegen.demo``).

With the models that ship with the package (``musegen.pretrained``), it takes a real piece
that ships beside this module (J. S. Bach's chorale BWV 13.6, "Drum fahr ich hin", from
music21's corpus, written as MIDI; public domain) and

1. continues it after its first bars with ``pretrained:bach``;
2. accompanies it: the chorale kept note for note on the Piano, ``pretrained:lakh`` drawing
   drums, guitar, bass and strings around it, with the accompaniment rules its card names
   (experiment=lakh's, shipped as the model's own sampling);
3. writes a listening page (``index.html``) with the original, the continuation and the
   accompaniment, each with its audio, MIDI file and pianoroll.

A minute or less on 2 CPU cores; ``tests/test_demo.py`` runs it and opens the page.
"""

from __future__ import annotations

from pathlib import Path

from musegen.config_checks import compose_checked
from musegen.data.midi_to_lpd import midi_to_song
from musegen.data.performance import from_steps
from musegen.data.pianoroll_notes import song_to_notes
from musegen.generate import run_generation
from musegen.render.audio import audio_description
from musegen.render.outputs import write_sample
from musegen.render.page import Media, write_page

FOLDER = Path(__file__).resolve().parent
PIECE = FOLDER / "bwv13.6.mid"
"""The chorale, as music21 writes it from its corpus (every voice on the Piano track)."""


def _generate(out: Path, *overrides: str) -> dict:
    args = [f"out_dir={out}", "num_samples=1", *overrides]
    return run_generation(compose_checked("generate", args), args)


def run_demo(out: str | Path) -> Path:
    """The demo's three pieces and their page in ``out``; returns the page."""
    out = Path(out)
    song = midi_to_song(PIECE)
    notes = song_to_notes(song)
    original = write_sample(notes, out / "original", "bwv13.6", 0, tempo=from_steps(song.tempo))
    _generate(out / "continuation", "ckpt_path=pretrained:bach", f"primer={PIECE}", "num_notes=150")
    _generate(
        out / "accompaniment",
        "ckpt_path=pretrained:lakh",
        f"accompany={PIECE}",
        "keep=[Piano]",
        "tracks=[Drums,Guitar,Bass,Strings]",
    )
    media = [
        Media(
            "J. S. Bach, chorale BWV 13.6, as music21's corpus has it",
            original.get("png"),
            original.get("wav"),
            "The demo",
            original.get("mid"),
            "the original",
        ),
        _sample(out / "continuation", "pretrained:bach continues it after its first 25 notes"),
        _sample(
            out / "accompaniment",
            "pretrained:lakh accompanies it: the chorale kept on the Piano, note for note; "
            "drums, guitar, bass and strings drawn around it",
        ),
    ]
    intro = (
        f"**How it sounds.** {audio_description('tinysoundfont')}. Made by `make demo` "
        "(`python -m musegen.demo`) with the models that ship with musegen, no training: "
        "`python -m musegen.pretrained` lists them."
    )
    return write_page(out / "index.html", "musegen demo", "", media, intro)


def _sample(folder: Path, caption: str) -> Media:
    def file(suffix: str) -> Path | None:
        path = folder / f"sample_000.{suffix}"
        return path if path.is_file() else None

    return Media(caption, file("png"), file("wav"), "The demo", file("mid"), caption.split(":")[0])
