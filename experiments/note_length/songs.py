"""Does a model continue each song in the song's own texture? Per song and track, the notes
and mean note length of the primer, of the real continuation and of the model's.

    python experiments/note_length/songs.py OUT.md CKPT [EVALUATE_OVERRIDE ...]
    python experiments/note_length/songs.py --mean OUT.md SONGS.csv ...

Runs ``python -m musegen.evaluate ckpt_path=CKPT audio=false out_dir=<OUT's folder>/<OUT's
stem>/`` (its overrides after, e.g. ``split=val``), keeps the continuations it scores, and
writes OUT.md and OUT.csv: a row per song and pitched track with the primer's, the real
continuation's and the model's notes a beat and mean duration (beats), and per track the
rank correlation (Spearman) over songs between the real and the model's figure, on the songs
where both play at least ``MIN_NOTES`` notes on it, and their mean over the tracks weighted
by those songs. A model that follows each song has a correlation near 1; one that writes
every song alike, near 0. ``--mean`` also gives the same correlation for the primer's own
figure (what a continuation that followed its primer would reach). Per track too, of the
songs whose primer does not play the track, the share whose real continuation brings it in
and the share whose model continuation does (``entries``). The pooled figures of
``measure.py`` average over songs and bars and cannot tell the two apart. ``--mean`` reads
the CSVs of earlier runs (seeds) and writes each one's correlations and their mean. Made
for experiments/note_length/README.md, "Texture".
"""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from scipy.stats import spearmanr

import musegen.evaluation.report as report
from musegen.data.note_timing import RESOLUTION
from musegen.data.tracks import LPD5_TRACKS
from musegen.metrics import REAL_ROW

PITCHED = ("Piano", "Guitar", "Bass", "Strings")
MIN_NOTES = 8
PRIMER_NOTES = 3
"""A 25-note primer plays few notes a track: its figures count from this many."""
FIGURES = ("notes per beat", "duration")


def texture(notes: np.ndarray, track: int) -> tuple[int, float, float]:
    """Notes on ``track``, their notes per beat over the piece's span (first onset to last
    end) and their mean duration in beats (nan without notes)."""
    mine = notes[notes["track"] == track]
    if len(notes) == 0 or len(mine) == 0:
        return 0, 0.0, float("nan")
    end = notes["time"] + np.round(notes["duration"] * RESOLUTION)
    span = max(float(end.max() - notes["time"].min()) / RESOLUTION, 1.0)
    return len(mine), len(mine) / span, float(mine["duration"].mean())


def capture(ckpt: str, out_dir: Path, overrides: list[str]) -> Any:
    """Run the evaluation; return the continuation set it scored."""
    kept: list[Any] = []
    original = report.continuation_set

    def keep(*args: Any, **kwargs: Any) -> Any:
        kept.append(original(*args, **kwargs))
        return kept[-1]

    argv = ["musegen.evaluate", f"ckpt_path={ckpt}", "audio=false", f"out_dir={out_dir}"]
    with (
        mock.patch.object(report, "continuation_set", keep),
        mock.patch.object(sys, "argv", argv + overrides),
    ):
        runpy.run_module("musegen.evaluate", run_name="__main__")
    return kept[0]


def rows(samples: Any) -> list[dict[str, Any]]:
    """A row per song and pitched track: primer, real and model figures."""
    model = next(iter(samples.rows))
    out = []
    for i, song in enumerate(samples.sources):
        for name in PITCHED:
            track = LPD5_TRACKS.index(name)
            row: dict[str, Any] = {"song": song, "track": name}
            for part, notes in (
                ("primer", samples.primers[i]),
                ("real", samples.rows[REAL_ROW][i]),
                ("model", samples.rows[model][i]),
            ):
                n, per_beat, duration = texture(notes, track)
                row.update({f"{part} notes": n, f"{part} notes per beat": per_beat})
                row[f"{part} duration"] = duration
            out.append(row)
    return out


def correlations(
    table: list[dict[str, Any]], against: str = "model", least: int = MIN_NOTES
) -> dict[str, dict[str, float | int]]:
    """Per track and figure: Spearman's rho of real against ``against`` (the model's, or
    the primer's) over the songs where the real continuation plays at least ``MIN_NOTES``
    notes on the track and ``against`` at least ``least``, and how many songs that is."""
    out: dict[str, dict[str, float | int]] = {}
    for name in PITCHED:
        both = [
            r
            for r in table
            if r["track"] == name
            and r["real notes"] >= MIN_NOTES
            and r[f"{against} notes"] >= least
        ]
        out[name] = {"songs": len(both)}
        for figure in FIGURES:
            real = [r[f"real {figure}"] for r in both]
            model = [r[f"{against} {figure}"] for r in both]
            rho = spearmanr(real, model).statistic if len(both) >= 3 else float("nan")
            out[name][figure] = float(rho)
    tracks = list(out.values())
    out["all, weighted"] = {"songs": sum(int(c["songs"]) for c in tracks)}
    for figure in FIGURES:
        weighted = [(float(c[figure]), int(c["songs"])) for c in tracks if np.isfinite(c[figure])]
        total = sum(n for _, n in weighted)
        mean = sum(r * n for r, n in weighted) / total if total else float("nan")
        out["all, weighted"][figure] = mean
    return out


def entries(table: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Per track: the songs whose primer plays no note on it, and the share of them whose
    real and model continuations play it (nan without such songs)."""
    out: dict[str, dict[str, float | int]] = {}
    for name in PITCHED:
        silent = [r for r in table if r["track"] == name and r["primer notes"] == 0]
        out[name] = {"songs": len(silent)}
        for part in ("real", "model"):
            enters = [r[f"{part} notes"] > 0 for r in silent]
            out[name][part] = float(np.mean(enters)) if silent else float("nan")
    every = [r for r in table if r["primer notes"] == 0]
    out["all"] = {"songs": len(every)}
    for part in ("real", "model"):
        share = np.mean([r[f"{part} notes"] > 0 for r in every]) if every else np.nan
        out["all"][part] = float(share)
    return out


def _entry_lines(rows: dict[str, dict[str, dict[str, float | int]]]) -> list[str]:
    """Markdown rows ``| run | track | songs | real | model |`` of ``entries`` per run."""
    lines = []
    for run, by_track in rows.items():
        for name, e in by_track.items():
            lines.append(f"| {run} | {name} | {e['songs']} | {_f(e['real'])} | {_f(e['model'])} |")
    return lines


ENTRY_HEADER = [
    "",
    "A track the primer does not play: the share of those songs whose continuation plays it",
    "",
    "| run | track | songs | real | model |",
    "| --- | --- | --- | --- | --- |",
]


def read_csv(path: Path) -> list[dict[str, Any]]:
    """The rows ``write`` stored, numbers as numbers."""
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    for row in table:
        for key, value in row.items():
            if key != "track":
                row[key] = float(value) if value not in ("", "nan") else float("nan")
    return table


def write_mean(out: Path, sources: list[Path]) -> None:
    """OUT.md: each source's correlations (one row each) and their mean per track."""
    lines = ["# Rank correlation of the model's figure with the real song's, per run", ""]
    lines += ["| run | track | songs | rho, notes per beat | rho, duration |"]
    lines.append("| --- | --- | --- | --- | --- |")
    every = {}
    for path in sources:
        every[path.stem] = correlations(read_csv(path))
        for name, c in every[path.stem].items():
            cells = f"{c['songs']} | {_f(c['notes per beat'])} | {_f(c['duration'])}"
            lines.append(f"| {path.stem} | {name} | {cells} |")
    for name in next(iter(every.values())):
        means = [
            float(np.nanmean([run[name][figure] for run in every.values()])) for figure in FIGURES
        ]
        lines.append(f"| mean | {name} | | {_f(means[0])} | {_f(means[1])} |")
    primer = correlations(read_csv(sources[0]), "primer", PRIMER_NOTES)
    lines += [
        "",
        "The primer's figure against the real continuation's (the same songs and primers in",
        f"every run; songs whose primer plays at least {PRIMER_NOTES} notes on the track)",
        "",
        "| track | songs | rho, notes per beat | rho, duration |",
        "| --- | --- | --- | --- |",
    ]
    for name, c in primer.items():
        lines.append(f"| {name} | {c['songs']} | {_f(c['notes per beat'])} | {_f(c['duration'])} |")
    runs = {path.stem: entries(read_csv(path)) for path in sources}
    lines += ENTRY_HEADER + _entry_lines(runs)
    for name in next(iter(runs.values())):
        real, model = (
            float(np.nanmean([r[name][p] for r in runs.values()])) for p in ("real", "model")
        )
        lines.append(f"| mean | {name} | | {_f(real)} | {_f(model)} |")
    out.write_text("\n".join(lines) + "\n")


def _f(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.2f}"


def write(table: list[dict[str, Any]], out: Path, title: str) -> None:
    """OUT.md (correlations, then the rows where a track plays) and OUT.csv (every row)."""
    corr = correlations(table)
    lines = [f"# {title}", "", "| track | songs | rho, notes per beat | rho, duration |"]
    lines.append("| --- | --- | --- | --- |")
    for name, c in corr.items():
        lines.append(f"| {name} | {c['songs']} | {_f(c['notes per beat'])} | {_f(c['duration'])} |")
    lines += ENTRY_HEADER + _entry_lines({"this run": entries(table)})
    lines += [
        "",
        "| song | track | "
        + " | ".join(f"{p} notes / per beat / duration" for p in ("primer", "real", "model"))
        + " |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in table:
        if r["real notes"] or r["model notes"]:
            cells = [
                f"{r[f'{p} notes']} / {_f(r[f'{p} notes per beat'])} / {_f(r[f'{p} duration'])}"
                for p in ("primer", "real", "model")
            ]
            lines.append(f"| {r['song']} | {r['track']} | " + " | ".join(cells) + " |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    if argv[0] == "--mean":
        write_mean(Path(argv[1]), [Path(a) for a in argv[2:]])
        print(Path(argv[1]).read_text())
        return
    out, ckpt, overrides = Path(argv[0]), argv[1], argv[2:]
    samples = capture(ckpt, out.parent / out.stem, overrides)
    settings = " ".join(overrides) or "the run's settings"
    title = f"Each song's texture: {out.stem} ({settings})"
    write(rows(samples), out, title)
    print(out.read_text().split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv[1:])
