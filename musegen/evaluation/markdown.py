"""The tables of ``evaluation.md``, from the scored sets (``scoring.score_set``).

Every cell reads ``mean ± std`` over pieces (per-instrument and musical tables) or over
subsamples (overlap), ``–`` where no piece has the value. The tables of the evaluation over
time (``metrics.over_time``) give means over pieces and over blocks of four bars, and the
structure's 10th-90th percentiles over pieces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from musegen.data.tracks import LPD5_IS_DRUM, LPD5_TRACKS
from musegen.metrics import REAL_ROW
from musegen.metrics.tracks import GLOBAL_STATS, MUSEGAN_LPD5, TRACK_STATS

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
        span = (
            f"; reference range of {what} (1st-99th percentile): {lo_hi[0]:.0f}-{lo_hi[1]:.0f}"
            if lo_hi
            else "; no reference range: the reference excerpts have no notes on it"
        )
        parts += [
            f"**{name}**{span}",
            "",
            table(["row", "pieces with notes"] + [STAT_HEADERS[s] for s in stats], body),
            "",
        ]
    between = [k for k in tables if k.startswith("TD/")] + [k for k in GLOBAL_STATS if k in tables]
    body = [[row] + [cell(tables[k].get(row)) for k in between] for row in rows]
    parts += [
        "**Between instruments** (TD: MuseGAN's tonal distance, lower = more in agreement; "
        "over all pitched tracks: MusPy's scale consistency and pitch-class entropy, bits, "
        "and semitone clusters: the share of the sounding time in which two notes a "
        "semitone apart sound together)",
        "",
        table(["row"] + [k.replace("TD/", "TD ") for k in between], body),
    ]
    return "\n".join(parts)


def absent_markdown(absent: Sequence[str]) -> list[str]:
    """The report's warning for tracks the real songs lack (``report.absent_tracks``)."""
    if not absent:
        return []
    return [
        f"**{', '.join(absent)}: no notes in the real songs evaluated here** (neither the "
        "reference excerpts nor the scored songs): the model's notes on "
        f"{'this track' if len(absent) == 1 else 'these tracks'} are scored against nothing "
        "real, and their rows below are the model's alone.",
        "",
    ]


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


def _pct(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else "–"


def _mean(scored: Mapping[str, Any], stat: str, row: str) -> float:
    cellv = scored["tracks"].get(stat, {}).get(row) or {}
    value = cellv.get("mean", math.nan)
    return value if value is not None else math.nan


def listening_notes(report: Mapping[str, Any]) -> str:
    """ "What to listen for": the figures of the report a listener can hear, in words, for
    the top of its listening page (written from the report, never by hand)."""
    model, real = report["model"], REAL_ROW
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
        clusters = _mean(scored, "semitone_clusters", model)
        if math.isfinite(clusters):
            parts.append(
                f"two notes a semitone apart sound together in {clusters:.0%} of the sounding "
                f"time (real: {_pct(_mean(scored, 'semitone_clusters', real))})"
            )
        mean = scored["overlap"].get(model, {}).get("mean", {}).get("oa")
        ceiling = scored["overlap"].get(real, {}).get("mean", {}).get("oa")
        if mean is not None and ceiling is not None:
            parts.append(f"mean OA {mean:.3f} against {ceiling:.3f} for held-out real music")
        over_time = over_time_notes(scored, model)
        if over_time:
            parts.append("over time: " + over_time)
        if parts:
            lines.append(f"- **{KIND_TITLES[kind].capitalize()}**: " + "; ".join(parts) + ".")
    return "\n".join(lines)


# --- the evaluation over time -------------------------------------------------------------

REAL = REAL_ROW

BAR_HEADERS = {
    "notes": "notes a bar",
    "duration": "mean duration (beats)",
    "polyphony": "polyphony",
    "pitch_class_entropy": "pitch-class entropy (bits)",
    "in_key": "in key (scale of bars 1-4)",
    "previous_bar": "similarity to the previous bar",
}

STRUCTURE_HEADERS = {
    "structureness": "structureness",
    "structure_contrast": "structure contrast",
}


def _f(value: Any) -> float:
    """A number of a report (``None`` in JSON where undefined) as a float, NaN for none."""
    return math.nan if value is None else float(value)


def _n(value: Any, digits: int = 3) -> str:
    value = _f(value)
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _feature_header(name: str) -> str:
    stat, _, track = name.partition("/")
    return BAR_HEADERS.get(stat, stat) + (f", {track}" if track else "")


def bars_markdown(over_time: Mapping[str, Any], model: str) -> str:
    """The model's and real vs real's per-bar figures, block by block (bars 1-4, 5-8, ...):
    the mean over the block's bars of each feature's mean over pieces, and of the per-bar
    OA."""
    rows = [r for r in (model, REAL) if r in over_time["rows"]]
    blocks = over_time["blocks"]
    shown = [
        i
        for i in range(len(blocks))
        if any(
            math.isfinite(_f(over_time["rows"][r]["curve_blocks"][f][i]))
            for r in rows
            for f in over_time["features"]
        )
    ]
    header = ["per bar"] + [
        f"{blocks[i]}: {'real' if r == REAL else r}" for i in shown for r in rows
    ]
    body = [
        [_feature_header(f)]
        + [_n(over_time["rows"][r]["curve_blocks"][f][i]) for i in shown for r in rows]
        for f in over_time["features"]
    ]
    body.append(
        ["**per-bar OA**"] + [_n(over_time["rows"][r]["oa_blocks"][i]) for i in shown for r in rows]
    )
    return table(header, body)


def _band(stat: Mapping[str, Any]) -> str:
    if not math.isfinite(_f(stat.get("mean"))):
        return "–"
    return f"{_f(stat['mean']):.3f} ({_f(stat['p10']):.2f}-{_f(stat['p90']):.2f})"


def structure_markdown(over_time: Mapping[str, Any]) -> str:
    """Every row's structure (mean and 10th-90th percentile over pieces, and the share of
    pieces inside the reference's band), its per-bar OA at the two blocks of the drop and
    the drop; the reference's own structure last."""
    drop = over_time.get("drop") or {}
    blocks = over_time["blocks"]
    ends = [drop[k] for k in ("from", "to") if k in drop]
    header = ["row"]
    for name in STRUCTURE_HEADERS.values():
        header += [f"{name} (p10-p90)", "in real band"]
    header += [f"per-bar OA {b}" for b in ends] + (["OA drop"] if ends else [])
    body = []
    lines = dict(over_time["rows"]) | {"*reference*": over_time["reference"]}
    for row, result in lines.items():
        cells = [row]
        for measure in STRUCTURE_HEADERS:
            stat = result["structure"][measure]
            cells += [_band(stat), _n(stat.get("in_band"), 2)]
        if "oa_blocks" in result:
            cells += [_n(result["oa_blocks"][blocks.index(b)]) for b in ends]
            cells += [_n(result.get("oa_drop"))] if ends else []
        else:
            cells += ["–"] * (len(ends) + bool(ends))
        body.append(cells)
    return table(header, body)


def over_time_notes(scored: Mapping[str, Any], model: str) -> str:
    """The headline of the evaluation over time, in words: the per-bar OA of the first and
    the last block and its drop (model and real vs real), and the model's structure against
    real's 10th-90th percentiles; empty when the report has none."""
    over_time = scored.get("over_time") or {}
    rows, drop = over_time.get("rows") or {}, over_time.get("drop")
    if model not in rows:
        return ""
    parts = []
    if drop and REAL in rows:
        i, j = over_time["blocks"].index(drop["from"]), over_time["blocks"].index(drop["to"])
        m, r = rows[model]["oa_blocks"], rows[REAL]["oa_blocks"]
        parts.append(
            f"per-bar OA {_n(m[i])} in bars {drop['from']} and {_n(m[j])} in bars {drop['to']} "
            f"(drop {_n(rows[model]['oa_drop'])}; real vs real {_n(r[i])} and {_n(r[j])}, "
            f"drop {_n(rows[REAL]['oa_drop'])})"
        )
    for measure, name in STRUCTURE_HEADERS.items():
        mine = rows[model]["structure"][measure]
        real = rows.get(REAL, {}).get("structure", {}).get(measure, {})
        if math.isfinite(_f(mine.get("mean"))) and math.isfinite(_f(real.get("p10"))):
            parts.append(
                f"{name} {_f(mine['mean']):.2f} (real: {_f(real['p10']):.2f}-"
                f"{_f(real['p90']):.2f}, 10th-90th percentile)"
            )
    return "; ".join(parts)
