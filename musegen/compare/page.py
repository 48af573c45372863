"""The comparison's listening page: ``index.html`` beside ``comparison.md``.

For every kind of sample (continuations, pieces from scratch) and each of the first
``SONGS`` songs the runs' evaluations wrote (``evaluation/samples``, as listed in each run's
``evaluation.json``), the page stacks the real music and every row's piece of every seed,
each with its audio, its MIDI file and a pianoroll. The pianorolls of one song are drawn
again here on one time axis (the longest piece's bars), so a model that plays a song's notes
in fewer bars looks shorter than the real one. Everything is copied into ``listen/`` next to
the page, named by position (not by the row's label, which can be long), so the folder stands
alone when the runs are not kept: the audio as Ogg Vorbis (about a tenth of a WAV's size,
played by every browser) when ``soundfile`` can write it, else as the WAV itself.

Without samples (runs evaluated with ``num_samples=0``, or not at all) no page is written:
``comparison.md`` holds the tables.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musegen.atomic import atomic_path
from musegen.compare.runs import Run
from musegen.compare.table import Group
from musegen.data.lpd_io import read_lpd_npz
from musegen.data.pianoroll_notes import song_to_notes
from musegen.evaluation.markdown import KIND_TITLES, listening_notes
from musegen.evaluation.report import SONGS as SONG_WORDS
from musegen.evaluation.report import piece_bars
from musegen.metrics import REAL_ROW
from musegen.render.audio import audio_description, wav_to_ogg
from musegen.render.page import Media, write_page
from musegen.render.pianoroll_png import plot_pianoroll

log = logging.getLogger(__name__)

SONGS = 3
"""Songs of each kind shown on the page (each with every row's piece of every seed)."""
LISTEN = "listen"
REAL = REAL_ROW


@dataclass
class Sample:
    """One piece a run's evaluation wrote: its record in ``evaluation.json`` and where."""

    run: Run
    record: dict[str, Any]
    folder: Path  # the run's evaluation folder, which the record's paths are relative to

    def file(self, key: str) -> Path | None:
        name = self.record.get(key)
        return self.folder / name if name and (self.folder / name).is_file() else None

    @property
    def audio(self) -> Path | None:
        return self.file("ogg") or self.file("wav")


def _report(run: Run) -> dict[str, Any] | None:
    path = run.path / "evaluation" / "evaluation.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _samples(run: Run) -> dict[tuple[str, str, int], Sample]:
    """A run's written samples by (kind, row, index): those whose notes are still on disk;
    none for a report written before samples carried their song and tempo, or for records
    kept without their samples (``experiments/keep_runs.py``)."""
    report = _report(run)
    if report is None:
        return {}
    folder = run.path / "evaluation"
    out = {}
    for record in report.get("samples", []):
        sample = Sample(run, record, folder)
        if "caption" in record and sample.file("npz") is not None:
            row = REAL if record["row"] == REAL else "model"
            out[(record["kind"], row, int(record["index"]))] = sample
    return out


def _copy(src: Path, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def _audio_copy(src: Path, dest_stem: Path) -> Path:
    """``src`` as ``<dest_stem>.ogg`` (Vorbis), or as a copied WAV when that cannot be
    written; an Ogg file is copied as it is."""
    if src.suffix == ".wav":
        try:
            return wav_to_ogg(src, dest_stem.with_suffix(".ogg"))
        except RuntimeError as err:  # no soundfile here
            log.info("listening page: %s copied as WAV (%s)", src.name, err)
    return _copy(src, dest_stem.with_suffix(src.suffix))


def _notes(sample: Sample) -> Any:
    npz = sample.file("npz")
    return song_to_notes(read_lpd_npz(npz)) if npz is not None else None


def _media(sample: Sample, caption: str, bars: int, listen: Path, stem: str, pair: str) -> Media:
    """``sample``'s files copied into ``listen`` as ``<stem>.*``, its pianoroll drawn again on
    ``bars`` bars."""
    notes = _notes(sample)
    png = None
    if notes is not None:
        png = plot_pianoroll(
            notes,
            listen / f"{stem}.png",
            int(sample.record.get("primer_len", 0)),
            track_ids=_tracks(sample.run),
            title=caption,
            bars=bars,
        )
    audio = sample.audio
    midi = sample.file("mid")
    return Media(
        caption=caption,
        png=png,
        audio=_audio_copy(audio, listen / stem) if audio is not None else None,
        midi=_copy(midi, listen / f"{stem}.mid") if midi is not None else None,
        group=KIND_TITLES[sample.record["kind"]].capitalize(),
        pair=pair,
    )


def _pair_title(real: Sample) -> str:
    rec = real.record
    settings = (_report(real.run) or {}).get("settings", {})
    split = SONG_WORDS.get(settings.get("split", "test"), "test song")
    if rec["kind"] == "continuation":
        return f"{split} {rec['song']}, continued after its first {rec['primer_len']} notes"
    return f"piece {rec['index'] + 1} from scratch, beside an excerpt of {split} {rec['song']}"


def page_media(groups: list[Group], out: Path) -> list[Media]:
    """Copy every shown sample into ``out/listen`` and draw its pianoroll there: per kind and
    song, the real piece first, then each row's, seed after seed."""
    rows = []
    for group in groups:
        for run in group.ok:
            samples = _samples(run)
            if samples:
                rows.append((group, run, samples))
    if not rows:
        return []
    listen = out / LISTEN
    listen.mkdir(parents=True, exist_ok=True)
    media: list[Media] = []
    for kind in KIND_TITLES:
        for i in range(SONGS):
            real = next((s[(kind, REAL, i)] for _, _, s in rows if (kind, REAL, i) in s), None)
            if real is None:
                continue
            shown = [(real, f"real music: {real.record['caption'].split(': ', 1)[-1]}")]
            for group, run, samples in rows:
                sample = samples.get((kind, "model", i))
                if sample is None or sample.record.get("song") != real.record.get("song"):
                    continue  # another song (other data or settings): not comparable here
                seed = run.setting("seed")
                what = sample.record["caption"].split(": ", 1)[-1]
                shown.append((sample, f"{group.label}, seed {seed}: {what}"))
            pieces = [(s, c, _notes(s)) for s, c in shown]
            bars = max(piece_bars(n) for _, _, n in pieces if n is not None)
            pair = _pair_title(real)
            for j, (sample, caption, _) in enumerate(pieces):
                stem = f"{kind}_{i}_{'real' if j == 0 else f'{j:02d}'}"
                media.append(_media(sample, caption, bars, listen, stem, pair))
    return media


def _tracks(run: Run) -> list[int] | None:
    report = _report(run) or {}
    ids = report.get("track_ids")
    return [int(t) for t in ids] if isinstance(ids, list) else None


def page_intro(groups: list[Group]) -> str:
    """How the audio was made and, row by row, what to listen for (from the first finished
    run's evaluation of each row)."""
    reports = []
    for group in groups:
        report = next((r for r in map(_report, group.ok) if r and r.get("kinds")), None)
        if report is not None:
            reports.append((group, report))
    if not reports:
        return ""
    settings = reports[0][1].get("settings", {})
    perf = reports[0][1].get("performance") or {}
    lines = [
        f"**How it sounds.** {audio_description(settings.get('synth', 'tinysoundfont'))}. "
        "A continuation plays at its song's tempo up to the end of its primer, then at the "
        "tempo the primer ends on; real music at its own; a piece from scratch at the "
        f"training songs' median tempo ({perf.get('tempo', 120.0):g} qpm). The pianorolls of "
        "one song share a time axis.",
        "",
        "**What to listen for** (each row's first seed, from its evaluation):",
        "",
    ]
    for group, report in reports:
        notes = listening_notes(report).splitlines()
        lines += [f"- **{group.label}**", *(f"    {line}" for line in notes)]
    return "\n".join(lines)


def write_comparison_page(groups: list[Group], out: Path, title: str, markdown: str) -> Path | None:
    """``out/index.html``: the samples, then the comparison's markdown (tables, plots); None
    (no page) when no run has samples. Files an earlier comparison left in ``listen/`` that
    this one does not show are removed, so the folder holds what the page plays."""
    media = page_media(groups, out)
    listen = out / LISTEN
    shown = {p.resolve() for m in media for p in (m.png, m.audio, m.midi) if p is not None}
    if listen.is_dir():
        for path in listen.iterdir():
            if path.suffix in (".png", ".ogg", ".wav", ".mid") and path.resolve() not in shown:
                path.unlink()
    if not media:
        (out / "index.html").unlink(missing_ok=True)
        return None
    return write_page(out / "index.html", title, markdown, media, page_intro(groups))
