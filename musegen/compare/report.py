"""Write a comparison: ``comparison.csv`` (one row per group, every metric's mean and std),
``comparison.md`` (the tables a reader wants) and the plots, all atomically.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from musegen.atomic import write_bytes_atomic
from musegen.compare.paper import paper_markdown
from musegen.compare.runs import Run
from musegen.compare.table import (
    CONTROL_KEYS,
    LOSS_COLUMNS,
    REFERENCE_ROWS,
    SIMILARITY_FEATURES,
    Group,
    common_overrides,
    fmt,
    metric_keys,
)
from musegen.data.tracks import LPD5_TRACKS
from musegen.metrics.musical import METRICS, RHYTHM_METRICS


def comparison_csv(keys: list[str], groups: list[Group]) -> str:
    """One row per group: the varying overrides, run counts (finished, failed, running),
    then ``<metric>_mean``, ``_std`` (empty below two runs: a sample std needs two) and
    ``_n``, the finished runs the mean covers (fewer where a run's value is NaN)."""
    metrics = metric_keys(groups)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [*keys, "n_runs", "n_failed", "n_running"]
        + [f"{m}_{s}" for m in metrics for s in ("mean", "std", "n")]
    )
    for group in groups:
        row: list[object] = [v for _, v in group.key]
        row += [len(group.ok), len(group.failed), len(group.running)]
        for metric in metrics:
            mean, std, n = group.stat(metric)
            row += ["" if n == 0 else repr(mean), "" if n < 2 else repr(std), n]
        writer.writerow(row)
    return out.getvalue()


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _present(groups: list[Group], key: str) -> bool:
    return any(g.stat(key)[2] for g in groups)


def losses_markdown(groups: list[Group]) -> str:
    cols = [c for c in LOSS_COLUMNS if _present(groups, c[0])]
    rows = [
        [g.label, f"{len(g.ok)}/{len(g.runs)}"] + [g.cell(k, p) for k, _, p in cols] for g in groups
    ]
    return _table(["row", "runs"] + [h for _, h, _ in cols], rows)


def similarity_markdown(groups: list[Group]) -> str:
    """The model rows, then each reference row (means over every group's runs when the
    groups share their data; per group otherwise)."""
    feats = [f for f in SIMILARITY_FEATURES if _present(groups, f"eval/sim_{f}")]
    if not feats:
        return ""
    rows = [[g.label] + [g.cell(f"eval/sim_{f}") for f in feats] for g in groups]
    for ref in REFERENCE_ROWS:
        per_group = [[fmt(g.stat(f"eval/sim_{f}/{ref}")) for f in feats] for g in groups]
        rows += _reference_rows(ref.replace("_", " "), groups, per_group)
    return _table(["row", *feats], rows)


OVERLAP_COLUMNS = (
    ("eval/oa", "continuations: mean OA"),
    ("eval/kl", "continuations: mean KL"),
    ("eval/scratch/oa", "from scratch: mean OA"),
    ("eval/scratch/kl", "from scratch: mean KL"),
    ("eval/scale_consistency", "scale consistency"),
    ("eval/pitch_class_entropy", "pitch-class entropy"),
    ("eval/semitone_clusters", "semitone clusters"),
    ("eval/scratch/bar_oa_drop", "from scratch: per-bar OA drop"),
    ("eval/scratch/structureness", "from scratch: structureness"),
    ("eval/scratch/structure_contrast", "from scratch: structure contrast"),
)
"""The evaluation's summary: distribution overlap (``metrics.overlap``), key, semitone
clusters and the evaluation over time (``metrics.over_time``) of the pieces from scratch."""


def overlap_markdown(groups: list[Group]) -> str:
    """Mean OA and KL of each group's continuations and pieces from scratch, then every
    control row (the same data for every group: one row each)."""
    if not _present(groups, "eval/oa"):  # scored before the overlap existed
        return ""
    cols = [(k, h) for k, h in OVERLAP_COLUMNS if _present(groups, k)]
    rows = [[g.label] + [g.cell(k) for k, _ in cols] for g in groups]
    for control in CONTROL_KEYS:
        cells = [[fmt(g.stat(f"{k}/{control}")) for k, _ in cols] for g in groups]
        rows += _reference_rows(control.replace("_", " "), groups, cells)
    return _table(["row"] + [h for _, h in cols], rows)


def track_markdown(groups: list[Group], stat: str) -> str:
    """One per-instrument statistic of the continuations: groups as rows, tracks as columns,
    with the real and scrambled rows."""
    prefix = f"eval/{stat}/"
    tracks = sorted(
        {k[len(prefix) :] for g in groups for r in g.ok for k in r.metrics if k.startswith(prefix)},
        key=lambda t: TRACK_ORDER.get(t, 99),
    )
    tracks = [t for t in tracks if "/" not in t]
    if not tracks:
        return ""
    rows = [[g.label] + [g.cell(prefix + t) for t in tracks] for g in groups]
    for control in ("real_vs_real", "scrambled_instruments"):
        cells = [[fmt(g.stat(f"{prefix}{t}/{control}")) for t in tracks] for g in groups]
        rows += _reference_rows(control.replace("_", " "), groups, cells)
    return _table(["row", *tracks], rows)


def musical_markdown(groups: list[Group]) -> str:
    """Rhythm metrics first, then the rest of MusPy's; the real test songs' row beside."""
    names = list(RHYTHM_METRICS) + [m for m in METRICS if m not in RHYTHM_METRICS]
    names = [m for m in names if _present(groups, f"eval/{m}")]
    if not names:
        return ""
    rows = [[g.label] + [g.cell(f"eval/{m}") for m in names] for g in groups]
    real = [[fmt(g.stat(f"eval/{m}/real")) for m in names] for g in groups]
    rows += _reference_rows("real test songs", groups, real)
    return _table(["row", *names], rows)


def _reference_rows(name: str, groups: list[Group], cells: list[list[str]]) -> list[list[str]]:
    """One reference row when every scored group has the same values (the same data), else
    one per scored group."""
    scored = [(g, c) for g, c in zip(groups, cells, strict=True) if any(x != "–" for x in c)]
    if not scored:
        return []
    if all(c == scored[0][1] for _, c in scored):
        return [[f"*{name}*", *scored[0][1]]]
    return [[f"*{name}* ({g.label})", *c] for g, c in scored]


def runs_markdown(groups: list[Group]) -> str:
    rows = []
    for g in groups:
        for r in g.runs:
            seed = r.overrides.get("seed") or r.setting("seed") or "–"
            status = _status(r)
            rows.append(
                [
                    f"`{r.path.name}`",
                    g.label,
                    str(seed),
                    _num(r.metrics.get("test/pitch_loss")),
                    status,
                ]
            )
    return _table(["run", "row", "seed", "test pitch", "status"], rows)


def _status(run: Run) -> str:
    """A run's status in the runs table: ok (and which losses are not finite), running, or
    failed with its reason."""
    if run.running:
        return "running"
    if not run.ok:
        return f"**failed**: {run.error}"
    if run.nonfinite:
        return "ok; **not finite** (left out of the means): " + ", ".join(run.nonfinite)
    return "ok"


def _num(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def comparison_markdown(
    keys: list[str],
    groups: list[Group],
    title: str,
    plots: list[str],
    command: str | None,
    paper: bool = False,
) -> str:
    runs = [r for g in groups for r in g.runs]
    counts = [
        f"{n} {what}"
        for n, what in (
            (sum(len(g.failed) for g in groups), "failed"),
            (sum(len(g.running) for g in groups), "running"),
            (sum(bool(r.nonfinite) for r in runs), "with a loss that is not finite"),
        )
        if n or what == "failed"
    ]
    fixed = {
        k: v for k, v in common_overrides(runs).items() if not k.startswith(("hydra.", "paths."))
    }
    parts = [f"# {title}", ""]
    if command:
        parts += ["    " + command, ""]
    parts += [
        f"{len(runs)} runs ({', '.join(counts)}), {len(groups)} rows keyed by "
        + (", ".join(f"`{k.lstrip('_')}`" for k in keys) or "nothing (one row)")
        + "; seeds collapse to mean ± std (sample std over the finished runs).",
    ]
    for what in ("commit", "machine"):
        seen = sorted({r.provenance.get(what, "not recorded") for r in runs})
        parts += ["", f"{what.capitalize()}: " + "; ".join(f"`{x}`" for x in seen) + "."]
    if fixed:
        parts += ["", "Held fixed: " + ", ".join(f"`{k}={v}`" for k, v in fixed.items()) + "."]
    parts += ["", "## Test losses (nats) and cost", "", losses_markdown(groups)]
    overlap = overlap_markdown(groups)
    if overlap:
        parts += [
            "",
            "## Distribution overlap with real music (the evaluation's summary)",
            "",
            "Mean overlapping area (OA; 1: the same feature distributions as the real excerpts "
            "of the training songs, which even held-out real music does not reach: its real vs "
            "real row is the ceiling in practice) and KL divergence over Yang & Lerch's per-piece "
            "features (docs/evaluation.md), of continuations of the test songs and of pieces from "
            "scratch; mean ± std over the seeds. The control rows are real music with one "
            "thing broken, scored by the same code. Over time (pieces from scratch): the "
            "per-bar OA of bars 1-4 minus that of bars 13-16 (real music: about 0), "
            "structureness (a looped bar: 1) and structure contrast (repetition in order; "
            "bars shuffled and a loop: about 0); bars shuffled and bar looped are scored "
            "over time only (docs/evaluation.md).",
            "",
            overlap,
        ]
        for stat, what in TRACK_SECTIONS:
            table = track_markdown(groups, stat)
            if table:
                parts += ["", f"### {what} (continuations, per instrument)", "", table]
    elif any(r.metrics for g in groups for r in g.ok):
        parts += ["", OLD_PROTOCOL]
    sim = similarity_markdown(groups)
    if sim:
        parts += [
            "",
            "## The paper's cosine similarity (continuations vs the song continued)",
            "",
            "Kept because it is the paper's measure; it rewards copying: the repeated primer "
            "and the unigram sampler score above another real song.",
            "",
            sim,
        ]
    mus = musical_markdown(groups)
    if mus:
        parts += ["", "## Rhythm and musical metrics of the continuations", "", mus]
    if paper:
        parts += ["", "## The paper's numbers", "", paper_markdown()]
    if plots:
        parts += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    parts += ["", "## Runs", "", runs_markdown(groups), ""]
    return "\n".join(parts)


TRACK_ORDER = {name: i for i, name in enumerate(LPD5_TRACKS)}
TRACK_SECTIONS = (
    ("out_of_range", "Share of notes outside the real pitch range"),
    ("share", "Note share"),
    ("pitch_mean", "Mean pitch"),
    ("duration", "Mean duration (beats)"),
)
OLD_PROTOCOL = (
    "**Scored on the old protocol.** These runs were evaluated before the distribution "
    "overlap and the per-instrument statistics existed: their evaluation holds "
    "the paper's cosine similarity and MusPy's metrics only, which a control that scrambles "
    "the instruments passes as well as real music (docs/evaluation.md)."
)


def write_text(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())
