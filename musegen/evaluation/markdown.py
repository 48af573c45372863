"""The tables of ``evaluation.md``, from the scored sets (``scoring.score_set``).

Every cell reads ``mean ± std`` over pieces (per-instrument and musical tables) or over
subsamples (overlap), ``–`` where no piece has the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from musegen.data.tracks import LPD5_IS_DRUM, LPD5_TRACKS
from musegen.metrics.tracks import MUSEGAN_LPD5, TRACK_STATS

MUSEGAN_ROW = "*MuseGAN, LPD-5 training data (theirs, 4-bar phrases)*"

STAT_HEADERS = {
    "share": "note share",
    "pitch_mean": "pitch mean",
    "pitch_std": "pitch std",
    "pitch_range": "pitch range",
    "out_of_range": "out of real range",
    "duration": "duration (beats)",
    "overlap": "same-pitch overlap",
    "polyphony": "polyphony",
    "EB": "EB",
    "UPC": "UPC",
    "QN": "QN",
    "DP": "DP",
}


def cell(stat: Mapping[str, float] | None, digits: int = 3) -> str:
    if not stat or not math.isfinite(stat.get("mean", math.nan)):
        return "–"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def summary_markdown(scored: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per sample row: the mean OA and KL of each kind of sample."""
    rows: dict[str, list[str]] = {}
    kinds = list(scored)
    for k, kind in enumerate(kinds):
        for row, overlap in scored[kind]["overlap"].items():
            cells = rows.setdefault(row, ["–"] * (2 * len(kinds)))
            mean = overlap.get("mean", {})
            cells[2 * k] = _oa(mean.get("oa"), mean.get("oa_std"))
            cells[2 * k + 1] = _oa(mean.get("kl"), mean.get("kl_std"))
    header = ["row"] + [f"{KIND_TITLES[k]}: {m}" for k in kinds for m in ("mean OA", "mean KL")]
    return table(header, [[name, *cells] for name, cells in rows.items()])


KIND_TITLES = {"continuation": "continuations", "scratch": "from scratch"}


def _oa(value: float | None, std: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.3f} ± {std:.3f}" if std is not None and math.isfinite(std) else f"{value:.3f}"


def track_markdown(scored: Mapping[str, Any], track_ids: Sequence[int]) -> str:
    """One table per track (rows: the sample rows, columns: the statistics), then the
    statistics between tracks."""
    tables = scored["tracks"]
    rows = list(scored["pieces"])
    parts = []
    for tid in track_ids:
        name = LPD5_TRACKS[tid]
        stats = [s for s in TRACK_STATS if f"{s}/{name}" in tables]
        body = []
        for row in rows:
            n = tables[f"share/{name}"][row]["n"]
            present = tables[f"pitch_mean/{name}"][row]["n"]
            body.append(
                [row, f"{present}/{n}"] + [cell(tables[f"{s}/{name}"].get(row)) for s in stats]
            )
        theirs = [MUSEGAN_LPD5.get(f"{s}/{name}") for s in stats]
        if any(v is not None for v in theirs):
            body.append([MUSEGAN_ROW, "–"] + ["–" if v is None else f"{v:.3f}" for v in theirs])
        lo_hi = scored["ranges"].get(name)
        what = "drum keys" if LPD5_IS_DRUM[tid] else "pitches"
        span = f"; reference range of {what} (1st-99th percentile): {lo_hi[0]:.0f}-{lo_hi[1]:.0f}"
        parts += [
            f"**{name}**" + (span if lo_hi else ""),
            "",
            table(["row", "pieces with notes"] + [STAT_HEADERS[s] for s in stats], body),
            "",
        ]
    between = [k for k in tables if k.startswith("TD/")] + [
        "scale_consistency",
        "pitch_class_entropy",
    ]
    body = [[row] + [cell(tables[k].get(row)) for k in between] for row in rows]
    parts += [
        "**Between instruments** (TD: MuseGAN's tonal distance, lower = more in agreement; "
        "over all pitched tracks: MusPy's scale consistency and pitch-class entropy, bits)",
        "",
        table(["row"] + [k.replace("TD/", "TD ") for k in between], body),
    ]
    return "\n".join(parts)


def overlap_markdown(scored: Mapping[str, Any]) -> str:
    """Features as rows, sample rows as columns: OA ± its spread over subsamples."""
    overlap = scored["overlap"]
    rows = list(overlap)
    features = [f for f in next(iter(overlap.values())) if f != "mean"]
    body = [
        [f] + [_oa(overlap[r][f]["oa"], overlap[r][f]["oa_std"]) for r in rows] for f in features
    ]
    body.append(
        ["**mean OA**"]
        + [_oa(overlap[r]["mean"]["oa"], overlap[r]["mean"]["oa_std"]) for r in rows]
    )
    body.append(
        ["**mean KL** (nats)"]
        + [_oa(overlap[r]["mean"]["kl"], overlap[r]["mean"]["kl_std"]) for r in rows]
    )
    return table(["feature", *rows], body)


def _mean(scored: Mapping[str, Any], stat: str, row: str) -> float:
    cellv = scored["tracks"].get(stat, {}).get(row) or {}
    value = cellv.get("mean", math.nan)
    return value if value is not None else math.nan


def listening_notes(report: Mapping[str, Any]) -> str:
    """ "What to listen for": the figures of the report a listener can hear, in words, for
    the top of its listening page (written from the report, never by hand)."""
    model, real = report["model"], "real vs real"
    lines = []
    for kind, scored in report["kinds"].items():
        pitched = [t for t in report["track_ids"] if not LPD5_IS_DRUM[t]]
        durations = [
            (
                LPD5_TRACKS[t],
                _mean(scored, f"duration/{LPD5_TRACKS[t]}", model),
                _mean(scored, f"duration/{LPD5_TRACKS[t]}", real),
            )
            for t in pitched
        ]
        said = [f"{n} {m:.2f} against {r:.2f}" for n, m, r in durations if math.isfinite(m)]
        parts = []
        if said:
            parts.append("pitched notes last (beats) " + ", ".join(said) + " real")
        overlap = [
            (LPD5_TRACKS[t], _mean(scored, f"overlap/{LPD5_TRACKS[t]}", model))
            for t in report["track_ids"]
        ]
        worst = max((o for o in overlap if math.isfinite(o[1])), key=lambda o: o[1], default=None)
        if worst is not None:
            parts.append(
                f"up to {worst[1]:.0%} of a track's notes ({worst[0]}) start on a sounding "
                "note of the same pitch (the file ends the earlier one there; real: "
                f"{_mean(scored, f'overlap/{worst[0]}', real):.0%})"
            )
        ranges = [
            (
                LPD5_TRACKS[t],
                _mean(scored, f"out_of_range/{LPD5_TRACKS[t]}", model),
                _mean(scored, f"out_of_range/{LPD5_TRACKS[t]}", real),
            )
            for t in pitched
        ]
        far = max((r for r in ranges if math.isfinite(r[1])), key=lambda r: r[1], default=None)
        if far is not None:
            parts.append(
                f"{far[0]} plays {far[1]:.0%} of its notes outside the real range "
                f"(real music: {far[2]:.0%})"
            )
        mean = scored["overlap"].get(model, {}).get("mean", {}).get("oa")
        ceiling = scored["overlap"].get(real, {}).get("mean", {}).get("oa")
        if mean is not None and ceiling is not None:
            parts.append(f"mean OA {mean:.3f} against {ceiling:.3f} for held-out real music")
        if parts:
            lines.append(f"- **{KIND_TITLES[kind].capitalize()}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)
