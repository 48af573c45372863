"""Accompaniment, evaluated: ``python -m musegen.evaluate ckpt_path=... accompany=true``.

On the scored songs (``split``'s, the test songs by default), each song's first ``bars``
bars: its kept tracks (``keep``, e.g. Piano and Guitar) are its own, and the model draws the
others around them (``generation.accompany``), from the first bar, or after the song's own
first ``start`` bars (``accompany_from``: every track of them primes the network, as
``musegen.generate accompany_from=`` does). Every row is then scored on bars ``start + 1``
to ``bars`` only, moved to start at time 0. Rows, each a list of (kept, accompaniment)
pairs of note arrays:

==================  ==================================================================
row                 accompaniment
==================  ==================================================================
(the model)         drawn around the kept tracks
``real``            the song's own: the ceiling
``another song``    the next song's own accompaniment over the same bars
``shifted a beat``  the song's own, one beat later
``unigram``         notes drawn from the training notes' frequencies on the
                    accompaniment tracks, as many as the song's own
==================  ==================================================================

Scored: the cross-track figures (``metrics.accompaniment``), per row mean ± std over songs;
and, as the main evaluation scores a set (``scoring.score_set``), the per-instrument
statistics and the distribution overlap of the whole pieces (kept and accompaniment)
against real excerpts of the training songs of as many bars. ``accompaniment.json`` and
``.md`` hold them; ``index.html`` plays the first ``num_samples`` songs: the kept tracks
alone, with the real accompaniment, with the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from musegen.atomic import write_bytes_atomic, write_json_atomic
from musegen.data.performance import Performance, excerpt
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import LPD5_TRACKS
from musegen.evaluation.markdown import overlap_markdown, table, track_markdown
from musegen.evaluation.samples import SampleSet, bar_excerpt, bar_excerpts, reference_split
from musegen.evaluation.scoring import score_set
from musegen.generation.accompany import accompany
from musegen.generation.continuation import DecodeOptions
from musegen.metrics.accompaniment import FIGURES, figures
from musegen.metrics.references import UnigramSampler
from musegen.metrics.tracks import summarise
from musegen.render.audio import audio_description
from musegen.render.outputs import write_sample
from musegen.render.page import Media, write_page

REAL = "real"
CONTROLS = ("another song", "shifted a beat", "unigram")
Pair = tuple[np.ndarray, np.ndarray]


def _joined(kept: np.ndarray, accompaniment: np.ndarray, resolution: int) -> np.ndarray:
    """One time-ordered piece of both, its steps consistent with its times."""
    piece = np.concatenate([kept, accompaniment])
    piece = piece[np.lexsort((piece["pitch"], piece["track"], piece["time"]))]
    piece["step"] = np.diff(piece["time"], prepend=0) / resolution
    return piece


def _moved(notes: np.ndarray, origin: int) -> np.ndarray:
    """A copy of ``notes`` with ``origin`` time steps taken off every onset."""
    out = np.array(notes, copy=True)
    out["time"] -= origin
    return out


def _shifted(notes: np.ndarray, by: int, end: int) -> np.ndarray:
    out = np.array(notes, copy=True)
    out["time"] += by
    return out[out["time"] < end]


def pairs(
    net: Any,
    dm: Any,
    track_ids: Sequence[int],
    keep: Sequence[int],
    bars: int,
    max_songs: int,
    options: DecodeOptions,
    split: str = "test",
    performance: Performance | None = None,
    start: int = 0,
) -> tuple[dict[str, list[Pair]], list[int]]:
    """Every row's (kept, accompaniment) pairs (module docstring), and the songs' indices
    in the split: the songs whose bars ``start + 1`` to ``bars`` hold kept and accompaniment
    notes. With ``start`` bars of priming the pairs cover the bars after them, moved to 0."""
    resolution = options.resolution
    bar = 4 * resolution
    if not 0 <= start < bars:
        raise ValueError(f"accompany_from={start}: must be below accompany_bars={bars}")
    origin, end = start * bar, (bars - start) * bar  # the scored bars, moved to 0
    draw = [t for t in track_ids if t not in keep]
    source = dm.splits[split]
    windows, primers, chosen = [], [], []
    for i in range(source.n_songs):
        window = bar_excerpt(source.song(i), 0, bars, bar)
        later = _moved(window[window["time"] >= origin], origin)
        mine = np.isin(later["track"], list(keep))
        if mine.any() and (~mine).any():
            windows.append((later[mine], later[~mine]))
            primers.append(window[window["time"] < origin])
            chosen.append(i)
        if len(chosen) == max_songs:
            break
    if len(chosen) < 2:
        where = f"first {bars} bars" if not start else f"bars {start + 1}-{bars}"
        raise ValueError(
            f"fewer than 2 {split} songs have both kept and accompaniment notes in their {where}"
        )
    drawn_options = replace(options, tracks=tuple(LPD5_TRACKS[t] for t in draw))
    rows: dict[str, list[Pair]] = {"model": [], REAL: [], **{c: [] for c in CONTROLS}}
    train, _ = reference_split(dm)
    unigram = UnigramSampler.fit(_on_tracks(train.columns, draw), resolution)
    empty = np.empty(0, dtype=NOTE_DTYPE)
    for k, (kept, real) in enumerate(windows):
        primer = primers[k] if len(primers[k]) else empty
        piece = accompany(
            net,
            primer,
            _moved(kept, -origin),
            track_ids,
            replace(drawn_options, seed=options.seed + k),
            performance,
        )
        drawn = piece[~np.isin(piece["track"], list(keep)) & (piece["time"] >= origin)]
        drawn = _moved(drawn, origin)
        rows["model"].append((kept, drawn[drawn["time"] < end]))
        rows[REAL].append((kept, real))
        rows["another song"].append((kept, windows[(k + 1) % len(windows)][1]))
        rows["shifted a beat"].append((kept, _shifted(real, resolution, end)))
        sampled = unigram.sample(len(real), np.random.default_rng([options.seed, 7, k]))
        rows["unigram"].append((kept, sampled[sampled["time"] < end]))
    return rows, chosen


def _on_tracks(columns: Any, tracks: Sequence[int]) -> dict[str, np.ndarray]:
    """The training notes' columns on ``tracks`` only (the unigram accompaniment's)."""
    track = np.asarray(columns["track"])
    keep = np.isin(track, list(tracks))
    return {k: np.asarray(v)[keep] for k, v in columns.items()}


def score_pairs(
    rows: dict[str, list[Pair]],
    reference: list[np.ndarray],
    track_ids: Sequence[int],
    seed: int,
    resolution: int,
) -> dict[str, Any]:
    """The cross-track figures of every row, and the set scores of its whole pieces."""
    crossing = {
        row: {f: summarise([figures(k, a, resolution)[f] for k, a in found]) for f in FIGURES}
        for row, found in rows.items()
    }
    whole = SampleSet(
        "accompaniment",
        reference,
        rows={row: [_joined(k, a, resolution) for k, a in found] for row, found in rows.items()},
    )
    return {"figures": crossing, "set": score_set(whole, track_ids, seed, resolution)}


def evaluate_accompaniment(
    net: Any,
    dm: Any,
    track_ids: Sequence[int],
    out_dir: Path,
    keep: Sequence[str],
    bars: int,
    settings: Any,
    model_name: str,
    performance: Performance | None = None,
    start: int = 0,
) -> dict[str, Any]:
    """Score ``net``'s accompaniments and write ``accompaniment.{json,md}`` and the page;
    ``start``: bars of each song's own music that prime the network (module docstring)."""
    keep_ids = [LPD5_TRACKS.index(t) for t in keep]
    resolution = dm.resolution
    options = DecodeOptions(
        sampling=settings.sampling,
        seed=settings.seed,
        resolution=resolution,
        context=settings.context,
    )
    rows, songs = pairs(
        net,
        dm,
        track_ids,
        keep_ids,
        bars,
        settings.max_songs,
        options,
        settings.split,
        performance,
        start,
    )
    scored_bars = bars - start
    rows = {model_name if r == "model" else r: v for r, v in rows.items()}
    reference = bar_excerpts(
        reference_split(dm)[0],
        scored_bars,
        settings.reference_samples,
        settings.seed,
        4 * resolution,
    ).pieces
    scored = score_pairs(rows, reference, track_ids, settings.seed, resolution)
    split = dm.splits[settings.split]
    report = {
        "model": model_name,
        "keep": list(keep),
        "accompaniment": [LPD5_TRACKS[t] for t in track_ids if t not in keep_ids],
        "bars": bars,
        "accompany_from": start,
        "split": settings.split,
        "song_ids": [split.song_ids[i] for i in songs],
        "seed": settings.seed,
        "sampling": settings.sampling.to_dict(),
        **scored,
        "samples": _write_samples(
            rows, model_name, songs, split, out_dir, settings, track_ids, bars, resolution, start
        ),
    }
    md = report_markdown(report, track_ids)
    write_json_atomic(out_dir / "accompaniment.json", report, indent=2)
    write_bytes_atomic(out_dir / "accompaniment.md", md.encode())
    media = [
        Media(s["caption"], out_dir / s["png"] if "png" in s else None,
              out_dir / (s.get("wav") or s["ogg"]) if ("wav" in s or "ogg" in s) else None,
              "Accompaniments", out_dir / s["mid"] if "mid" in s else None, s["pair"])
        for s in report["samples"]
    ]  # fmt: skip
    intro = page_intro(report, settings.synth if settings.audio else None)
    write_page(out_dir / "index.html", f"Accompaniment by {model_name}", md, media, intro)
    return report


def page_intro(report: dict[str, Any], synth: str | None) -> str:
    """The top of the page: how the audio was made, and what to listen for, written from the
    cross-track figures (the model's mean beside the songs' own and each control's)."""
    audio = audio_description(synth) if synth else "no audio (audio=false)"
    figs, model = report["figures"], report["model"]
    others = [r for r in figs if r != model]

    def num(row: str, figure: str) -> str:
        mean = figs[row][figure]["mean"]
        return "–" if mean is None or not np.isfinite(mean) else f"{mean:.2f}"

    notes = [
        f"- {f.replace('_', ' ')} {num(model, f)} ("
        + ", ".join(f"{r} {num(r, f)}" for r in others)
        + ")"
        for f in FIGURES
    ]
    return "\n".join(
        [
            f"**How it sounds.** {audio}. Each piece plays at its song's tempo; the kept tracks "
            f"({', '.join(report['keep'])}) are the song's own, note for note; a drawn note plays "
            "at the velocity the model drew where it models velocity, else at the training "
            "songs' median of its track; drum notes are single hits.",
            "",
            "**What to listen for** (from the table below): does the accompaniment stay in the "
            "kept tracks' key and chords, land its onsets with theirs, and put its bass on their "
            "lowest notes? The model's figures, beside the songs' own and the controls':",
            "",
            *notes,
        ]
    )


def _write_samples(
    rows: dict[str, list[Pair]],
    model_name: str,
    songs: list[int],
    split: Any,
    out_dir: Path,
    settings: Any,
    track_ids: Sequence[int],
    bars: int,
    resolution: int,
    start: int = 0,
) -> list[dict[str, Any]]:
    """The first ``num_samples`` songs: kept alone, with the real accompaniment, with the
    model's, each on the scored bars (``start + 1`` to ``bars``) at the song's tempo."""
    samples = []
    bar = 4 * resolution
    for i in range(min(settings.num_samples, len(songs))):
        kept, real = rows[REAL][i]
        song = split.song_ids[songs[i]]
        tempo = excerpt(split.tempo(songs[i]), start * bar, bars * bar)
        pieces = (
            ("kept", f"{song}: the kept tracks alone", kept),
            ("real", f"{song}: with its real accompaniment", _joined(kept, real, resolution)),
            (
                "model",
                f"{song}: with {model_name}'s accompaniment",
                _joined(*rows[model_name][i], resolution),
            ),
        )
        for name, caption, notes in pieces:
            files = write_sample(
                notes,
                out_dir / "samples",
                f"{name}_{i:03d}",
                primer_len=0,
                resolution=resolution,
                tempo=tempo,
                audio=settings.audio,
                track_ids=list(track_ids),
                title=caption,
                synth=settings.synth,
                audio_format=settings.audio_format,
                bars=bars - start,
            )
            samples.append(
                {"index": i, "song": song, "caption": caption, "pair": f"test song {song}"}
                | {k: v.relative_to(out_dir).as_posix() for k, v in files.items()}
            )
    return samples


def report_markdown(report: dict[str, Any], track_ids: Sequence[int]) -> str:
    """``accompaniment.md``: the cross-track figures, then the set scores."""
    header = ["row", *(f.replace("_", " ") for f in FIGURES)]
    body = [[row, *(_cell(cells[f]) for f in FIGURES)] for row, cells in report["figures"].items()]
    st = report["set"]
    kept = ", ".join(report["keep"])
    return "\n".join(
        [
            f"# Accompaniment by {report['model']}",
            "",
            f"{_scored_bars(report)} of {len(report['song_ids'])} {report['split']} "
            f"songs: {kept} kept as the songs play them, "
            f"{', '.join(report['accompaniment'])} drawn by the model around them, beside the "
            "songs' own accompaniment and three controls (module musegen.evaluation."
            "accompaniment). Mean ± std over the songs.",
            "",
            "## Between the tracks",
            "",
            "Key agreement: the share of the accompaniment's pitched notes in the kept tracks' "
            "scale, bar by bar. Chord agreement: the share of them on a pitch class the kept "
            "tracks sound at that moment. Onset agreement: the share of its onsets on a kept "
            "onset. Bass agreement: the share of bass notes on the pitch class of the lowest "
            "kept note sounding (musegen.metrics.accompaniment).",
            "",
            table(header, body),
            "",
            "## The whole pieces against real music (distribution overlap)",
            "",
            table(
                ["row", "mean OA", "mean KL"],
                [
                    [row, _oa(o["mean"], "oa"), _oa(o["mean"], "kl")]
                    for row, o in st["overlap"].items()
                ],
            ),
            "",
            overlap_markdown(st),
            "",
            "## Per instrument",
            "",
            track_markdown(st, [t for t in track_ids]),
            "",
        ]
    )


def _scored_bars(report: dict[str, Any]) -> str:
    """Which bars a report scored, in words."""
    start = report.get("accompany_from", 0)
    if not start:
        return f"The first {report['bars']} bars"
    return (
        f"Bars {start + 1}-{report['bars']}, after each song's own first {start} (every "
        "track: the network's primer),"
    )


def _oa(mean: dict[str, float], key: str) -> str:
    value, spread = mean.get(key), mean.get(f"{key}_std")
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3f} ± {spread:.3f}" if spread is not None else f"{value:.3f}"


def _cell(stat: dict[str, float]) -> str:
    mean, std = stat.get("mean"), stat.get("std")
    if mean is None or not np.isfinite(mean):
        return "–"
    return f"{mean:.3f} ± {std:.3f}"
