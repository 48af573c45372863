"""Note length, density and form of a model's music against real music, from its evaluations.

    python experiments/note_length/measure.py grid CKPT OUT NAME="OVERRIDE ..." ...
    python experiments/note_length/measure.py table [--mean] OUT.md RUN_OR_EVAL ...
    python experiments/note_length/measure.py losses [--mean] OUT.md RUN ...
    python experiments/note_length/measure.py clusters OUT.md SAMPLES_DIR ...

``grid`` evaluates one checkpoint on the validation songs of its run's split
(``python -m musegen.evaluate split=val``, the run's own settings with each NAME's overrides
on top), one evaluation per NAME into ``OUT/<NAME>/``, and writes ``OUT/grid.md`` and
``.csv``: where sampling settings are chosen, never on the test songs. ``table`` reads the
``evaluation.json`` of finished runs (their test songs) or of evaluations and writes the same
figures, one row each, for the results (``--mean``: and their mean, for seeds). ``clusters``
reads the pieces an evaluation kept (``evaluation/samples/*.npz``) and writes, per kind of
piece, the semitone-cluster share of the whole piece and of each track's notes alone: where
the clusters lie, within a track or between two. ``losses``
reads finished runs' ``metrics.json`` and writes each one's validation and test NLLs by
field. Made for experiments/README.md, "Note length and density".

The figures, for continuations and pieces from scratch, each beside real music's (held-out
real vs real of the same report): per pitched track the mean duration in beats and the notes
per bar (the per-bar curves of the evaluation over time, averaged over the bars), the worst
track's same-pitch overlap, the semitone-cluster share, the mean OA, the per-bar OA of bars
1-4 and of the last block real music reaches, and the structure contrast.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REAL = "real vs real"
PITCHED = ("Piano", "Guitar", "Bass", "Strings")
KINDS = {"continuation": "cont", "scratch": "scratch"}


def _mean(values: list[float]) -> float:
    ok = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(ok) if ok else math.nan


def _cell(table: dict[str, Any], stat: str, row: str) -> float:
    value = (table.get(stat) or {}).get(row, {}).get("mean")
    return math.nan if value is None else float(value)


def figures(report: dict[str, Any]) -> dict[str, float]:
    """The figures of one ``evaluation.json`` (module docstring), flat: ``<kind>/<figure>``
    for the model and ``<kind>/<figure>/real`` for real vs real."""
    model = report["model"]
    out: dict[str, float] = {}
    for kind, short in KINDS.items():
        scored = report["kinds"][kind]
        tracks = scored["tracks"]
        over = scored.get("over_time", {})
        for row, suffix in ((model, ""), (REAL, "/real")):
            for track in PITCHED:
                if f"duration/{track}" in tracks:
                    out[f"{short}/duration/{track}{suffix}"] = _cell(
                        tracks, f"duration/{track}", row
                    )
                curve = over.get("rows", {}).get(row, {}).get("curves", {}).get(f"notes/{track}")
                if curve is not None:
                    out[f"{short}/notes_per_bar/{track}{suffix}"] = _mean(curve)
            overlaps = [_cell(tracks, s, row) for s in tracks if s.startswith("overlap/")]
            out[f"{short}/overlap_worst{suffix}"] = max(
                (v for v in overlaps if math.isfinite(v)), default=math.nan
            )
            out[f"{short}/semitone_clusters{suffix}"] = _cell(tracks, "semitone_clusters", row)
            out[f"{short}/oa{suffix}"] = (
                scored["overlap"].get(row, {}).get("mean", {}).get("oa", math.nan)
            )
            result = over.get("rows", {}).get(row, {})
            blocks = result.get("oa_blocks") or []
            drop = over.get("drop") or {}
            labels = over.get("blocks") or []
            if blocks and drop:
                out[f"{short}/bar_oa_first{suffix}"] = blocks[0]
                out[f"{short}/bar_oa_last{suffix}"] = blocks[labels.index(drop["to"])]
            contrast = result.get("structure", {}).get("structure_contrast", {})
            out[f"{short}/structure{suffix}"] = contrast.get("mean", math.nan)
        real_contrast = over.get("rows", {}).get(REAL, {}).get("structure", {})
        band = real_contrast.get("structure_contrast", {})
        out[f"{short}/structure/real_p10"] = band.get("p10", math.nan)
        out[f"{short}/structure/real_p90"] = band.get("p90", math.nan)
    for key, value in (report.get("test") or {}).items():
        if key in ("test/note_nll", "test/velocity_loss"):
            out[key] = value
    return {k: (math.nan if v is None else float(v)) for k, v in out.items()}


COLUMNS = (
    ("cont/duration/Piano", "Piano dur"),
    ("cont/duration/Guitar", "Guitar dur"),
    ("cont/duration/Bass", "Bass dur"),
    ("cont/duration/Strings", "Strings dur"),
    ("cont/notes_per_bar/Piano", "Piano n/bar"),
    ("cont/notes_per_bar/Guitar", "Guitar n/bar"),
    ("cont/notes_per_bar/Bass", "Bass n/bar"),
    ("cont/notes_per_bar/Strings", "Strings n/bar"),
    ("cont/overlap_worst", "overlap (worst track)"),
    ("cont/semitone_clusters", "semitone clusters"),
    ("scratch/semitone_clusters", "scratch semitone clusters"),
    ("cont/oa", "cont. OA"),
    ("scratch/oa", "scratch OA"),
    ("scratch/bar_oa_first", "scratch bar OA 1-4"),
    ("scratch/bar_oa_last", "scratch bar OA 13-16"),
    ("scratch/structure", "scratch structure contrast"),
    ("test/note_nll", "note NLL"),
    ("test/velocity_loss", "velocity NLL"),
)


def _fmt(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.3f}"


def real_rows(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The real music beside the rows: one "real vs real" row where every row's is the same
    (the same songs, bars and primer), else one per row, named after it."""
    reals = {n: {k: v for k, v in r.items() if "/real" in k} for n, r in rows.items()}
    first = next(iter(reals.values()))
    same = all(
        r.keys() == first.keys() and all(_same(r[k], first[k]) for k in r) for r in reals.values()
    )
    if same:
        return {"real vs real": first}
    return {f"real vs real, {n}": r for n, r in reals.items() if n != "mean"}


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def write_table(rows: dict[str, dict[str, float]], out: Path, title: str) -> None:
    """``out`` (.md) and its .csv: a row per name, each figure beside real music's."""
    used = [(k, t) for k, t in COLUMNS if any(k in r for r in rows.values())]
    lines = [f"# {title}", "", "| row | " + " | ".join(t for _, t in used) + " |"]
    lines.append("|" + " --- |" * (len(used) + 1))
    for name, r in rows.items():
        cells = [_fmt(r.get(k, math.nan)) for k, _ in used]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for label, real in real_rows(rows).items():
        cells = [_fmt(real.get(f"{k}/real", math.nan)) for k, _ in used]
        lines.append(f"| *{label}* | " + " | ".join(cells) + " |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    keys = sorted({k for r in rows.values() for k in r})
    with open(out.with_suffix(".csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", *keys])
        for name, r in rows.items():
            writer.writerow([name, *(repr(r.get(k, math.nan)) for k in keys)])


def grid(ckpt: Path, out: Path, settings: list[str]) -> dict[str, dict[str, float]]:
    rows = {}
    for item in settings:
        name, _, overrides = item.partition("=")
        folder = out / name
        if not (folder / "evaluation.json").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "musegen.evaluate",
                    f"ckpt_path={ckpt}",
                    "split=val",
                    "losses=false",
                    "audio=false",
                    "num_samples=0",
                    f"out_dir={folder}",
                    f"hydra.run.dir={folder}/hydra",
                    *overrides.split(),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        rows[name] = figures(json.loads((folder / "evaluation.json").read_text()))
    write_table(rows, out / "grid.md", f"Validation songs: {ckpt.parent.parent.name}")
    return rows


LOSSES = ("note_nll", "pitch_loss", "step_loss", "duration_loss", "track_loss", "velocity_loss")


def losses(runs: list[Path], out: Path, mean: bool = False) -> None:
    """``out`` (.md): each run's best-checkpoint validation and test NLLs by field (nats;
    the note NLL is the sum of the four note fields', the velocity's stands beside it), and
    the training note NLL of its last epoch (``metrics.json``); ``mean``: and their mean."""
    keys = [f"{stage}/{name}" for stage in ("val", "test") for name in LOSSES]
    keys.append("train/note_nll")
    head = [k.replace("/", " ").removesuffix("_loss") for k in keys]
    lines = ["# Losses (nats)", "", "| run | " + " | ".join(head) + " |"]
    lines.append("|" + " --- |" * (len(head) + 1))
    values = []
    for run in runs:
        metrics = json.loads((run / "metrics.json").read_text())
        values.append([float(metrics.get(k, math.nan)) for k in keys])
        lines.append(f"| {run.name} | " + " | ".join(_fmt(v) for v in values[-1]) + " |")
    if mean:
        means = [_mean([v[i] for v in values]) for i in range(len(keys))]
        lines.append("| mean | " + " | ".join(_fmt(v) for v in means) + " |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def clusters(folders: list[Path], out: Path) -> None:
    """``out`` (.md): per folder and kind of piece (continuation, from scratch, and the real
    ones beside them), the mean semitone-cluster share of the pieces and of each pitched
    track's notes alone (``metrics.tracks.track_notes``)."""
    import numpy as np

    from musegen.data.lpd_io import read_lpd_npz
    from musegen.data.pianoroll_notes import song_to_notes
    from musegen.data.tracks import IS_DRUM, LPD5_TRACKS
    from musegen.metrics.tracks import semitone_cluster_share, track_notes

    pitched = [t for t in range(len(LPD5_TRACKS)) if not IS_DRUM[t]]
    lines = [
        "# Semitone clusters: whole pieces and each track alone",
        "",
        "| folder | kind | pieces | piece | " + " | ".join(LPD5_TRACKS[t] for t in pitched) + " |",
        "|" + " --- |" * (4 + len(pitched)),
    ]
    for folder in folders:
        kinds: dict[str, list[list[float]]] = {}
        for path in sorted(folder.glob("*.npz")):
            notes = song_to_notes(read_lpd_npz(path))
            row = [semitone_cluster_share(notes)]
            row += [
                semitone_cluster_share(track_notes(notes, notes["track"] == t)) for t in pitched
            ]
            kinds.setdefault(path.stem.rsplit("_", 1)[0], []).append(row)
        for kind, rows in sorted(kinds.items()):
            means = np.nanmean(np.array(rows, dtype=np.float64), axis=0)
            cells = " | ".join(_fmt(float(v)) for v in means)
            lines.append(f"| {folder.parent.parent.name} | {kind} | {len(rows)} | {cells} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] not in ("grid", "table", "losses", "clusters"):
        raise SystemExit(__doc__)
    if argv[0] == "grid":
        grid(Path(argv[1]), Path(argv[2]), argv[3:])
        return
    mean = "--mean" in argv
    argv = [a for a in argv if a != "--mean"]
    if argv[0] == "losses":
        losses(list(map(Path, argv[2:])), Path(argv[1]), mean)
        return
    if argv[0] == "clusters":
        clusters(list(map(Path, argv[2:])), Path(argv[1]))
        return
    rows, splits = {}, set()
    for path in map(Path, argv[2:]):
        report = path / "evaluation" / "evaluation.json" if path.is_dir() else path
        if path.is_dir() and not report.exists():
            report = path / "evaluation.json"
        loaded = json.loads(report.read_text())
        splits.add((loaded.get("settings") or {}).get("split", "test"))
        if path.name in rows:
            raise SystemExit(
                f"{path}: a second row named {path.name}; rows are named after "
                "their folders, so give each its own name (a link will do)"
            )
        rows[path.name] = figures(loaded)
    if mean:
        keys = {k for r in rows.values() for k in r}
        real = {k: v for k, v in next(iter(rows.values())).items() if "/real" in k}
        rows["mean"] = {
            **{k: _mean([r.get(k, math.nan) for r in rows.values()]) for k in keys},
            **real,
        }
    write_table(rows, Path(argv[1]), "Validation songs" if splits == {"val"} else "Test songs")


if __name__ == "__main__":
    main(sys.argv[1:])
