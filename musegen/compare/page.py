"""The comparison's listening page: ``index.html`` beside ``comparison.md``.

For every row of the comparison it shows the first finished run's samples (a continuation
of the first test song and the first piece from scratch), the real music beside them, the
comparison's tables and plots. The samples are copied into ``listen/`` next to the page, so
the folder stands alone when the runs are not kept (committed results keep no run folders'
samples): the pianorolls as PNGs, the audio as Ogg Vorbis (about a tenth of a WAV's size,
played by every browser) when ``soundfile`` can write it, else as the WAV itself.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from musegen.atomic import atomic_path
from musegen.compare.table import Group
from musegen.render.audio import wav_to_ogg
from musegen.render.page import Media, write_page

log = logging.getLogger(__name__)

SAMPLES = (
    ("continuation_000", "continuation of test song 0"),
    ("scratch_000", "from scratch"),
)
"""The samples of a run shown on the page (``evaluation/samples/<stem>.{png,wav}``)."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "all"


def _audio_copy(wav: Path, dest_stem: Path) -> Path:
    """``wav`` as ``<dest_stem>.ogg`` (Vorbis), or as a copied WAV when that cannot be
    written; an Ogg file is copied as it is."""
    if wav.suffix == ".wav":
        try:
            return wav_to_ogg(wav, dest_stem.with_suffix(".ogg"))
        except RuntimeError as err:  # no soundfile here
            log.info("listening page: %s copied as WAV (%s)", wav.name, err)
    dest = dest_stem.with_suffix(wav.suffix)
    with atomic_path(dest) as tmp:
        shutil.copyfile(wav, tmp)
    return dest


def _png_copy(png: Path, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        shutil.copyfile(png, tmp)
    return dest


def _sample(run_dir: Path, stem: str, caption: str, group: str, listen: Path, name: str) -> Media:
    folder = run_dir / "evaluation" / "samples"
    png = folder / f"{stem}.png"
    audio = next((p for p in (folder / f"{stem}.wav", folder / f"{stem}.ogg") if p.is_file()), None)
    return Media(
        caption=caption,
        png=_png_copy(png, listen / f"{name}.png") if png.is_file() else None,
        audio=_audio_copy(audio, listen / name) if audio is not None else None,
        group=group,
    )


def page_media(groups: list[Group], out: Path) -> list[Media]:
    """Copy the real samples (once) and each row's into ``out/listen``, real music first."""
    listen = out / "listen"
    runs = [
        (group, next((r for r in group.ok if (r.path / "evaluation" / "samples").is_dir()), None))
        for group in groups
    ]
    runs = [(g, r) for g, r in runs if r is not None]
    if not runs:
        return []
    listen.mkdir(parents=True, exist_ok=True)
    media = []
    for stem, what in SAMPLES:
        section = what.split(" of ")[0].capitalize()
        first = runs[0][1]
        media.append(
            _sample(
                first.path, f"real_{stem}", f"real music: {what}", section, listen, f"real_{stem}"
            )
        )
        for group, run in runs:
            caption = f"{group.label}: {what} ({run.name})"
            name = f"{_slug(group.label)}_{stem}"
            media.append(_sample(run.path, stem, caption, section, listen, name))
    return [m for m in media if m.png is not None or m.audio is not None]


def write_comparison_page(groups: list[Group], out: Path, title: str, markdown: str) -> Path:
    """``out/index.html``: the samples, then the comparison's markdown (tables, plots).
    Samples an earlier comparison copied into ``listen/`` and this one does not show (rows
    named otherwise) are removed, so the folder holds what the page plays."""
    media = page_media(groups, out)
    shown = {p.resolve() for m in media for p in (m.png, m.audio) if p is not None}
    listen = out / "listen"
    if listen.is_dir():
        for path in listen.iterdir():
            if path.suffix in (".png", ".ogg", ".wav") and path.resolve() not in shown:
                path.unlink()
    return write_page(out / "index.html", title, markdown, media)
