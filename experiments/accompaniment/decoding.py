"""Ways of decoding an accompaniment side by side: the cross-track figures, the whole pieces'
mean OA, how much of the music each drawn track plays and in how many bars it is silent.

    python experiments/accompaniment/decoding.py OUT.md VARIANT_DIR ...

Each ``VARIANT_DIR`` (its name is the row's) holds one folder per seed with the
``accompaniment.json`` of ``python -m musegen.evaluate ckpt_path=... accompany=true``.
Writes ``OUT.md``: per variant the mean over its seeds of each figure, then the songs' own
accompaniment (the first variant's: the same songs in every one). A track's share is its
share of all the piece's notes, the kept tracks' included, so a drawn part that is too dense
shows as a share above real. A track's empty bars: the share of the piece's bars in which it
plays no note (MuseGAN's empty-bar rate, the evaluation's ``EB``), so a drawn
part that skips the kept music's rests shows as more empty bars than real. Distance: the sum,
over chord, onset and bass agreement and each drawn track's empty bars, of the absolute
difference of the variant's mean from the songs' own (the choice rule of "Decoding" with the
drawn parts' silence counted beside the figures between the tracks); the least is named.
Made for experiments/accompaniment/lakh/README.md.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from musegen.metrics.accompaniment import FIGURES

COUNTED = ("chord_agreement", "onset_agreement", "bass_agreement")
"""The figures between the tracks the distance counts; key agreement is not: the song's own
accompaniment moved a beat scores as high on it (``rules.py``)."""


def _reports(variant: Path) -> list[dict]:
    files = sorted(variant.glob("*/accompaniment.json"))
    if not files:
        raise SystemExit(f"{variant}: no <seed>/accompaniment.json in it")
    return [json.loads(f.read_text()) for f in files]


def _value(report: dict, row: str, column: str) -> float:
    if column == "mean OA":
        return report["set"]["overlap"][row]["mean"]["oa"]
    if column.startswith(("share/", "EB/")):
        return report["set"]["tracks"][column][row]["mean"]
    return report["figures"][row][column]["mean"]


def table(variants: dict[str, list[dict]]) -> str:
    """The markdown of the module docstring."""
    first = next(iter(variants.values()))
    drawn = first[0]["accompaniment"]
    shares = [f"share/{t}" for t in drawn] + [f"EB/{t}" for t in drawn]
    columns = [*FIGURES, "mean OA", *shares]
    names = [
        c.replace("_", " ").replace("share/", "share of ").replace("EB/", "empty bars of ")
        for c in columns
    ]
    lines = [
        f"| decoding | seeds | {' | '.join(names)} | distance |",
        "| --- | --- |" + " --- |" * (len(columns) + 1),
    ]
    counted = [*COUNTED, *(f"EB/{t}" for t in drawn)]

    def mean(reports: list[dict], who: str, column: str) -> float:
        return statistics.fmean(_value(r, who, column) for r in reports)

    def distance(reports: list[dict]) -> float:
        model = reports[0]["model"]
        return sum(abs(mean(reports, model, c) - mean(first, "real", c)) for c in counted)

    def row(label: str, reports: list[dict], who: str, far: str) -> str:
        cells = [f"{mean(reports, who, c):.3f}" for c in columns]
        return f"| {label} | {len(reports)} | {' | '.join(cells)} | {far} |"

    far = {name: distance(reports) for name, reports in variants.items()}
    for name, reports in variants.items():
        lines.append(row(name, reports, reports[0]["model"], f"{far[name]:.3f}"))
    lines.append(row("real", first, "real", "0"))
    lines += ["", f"Least distance: {min(far, key=far.__getitem__)}."]
    start = first[0].get("accompany_from", 0)
    bars = f"The first {first[0]['bars']} bars"
    if start:
        bars = f"Bars {start + 1}-{first[0]['bars']} (after each song's own first {start}"
        bars += ", every track)"
    head = (
        f"{bars} of {len(first[0]['song_ids'])} "
        f"{first[0]['split']} songs, {', '.join(first[0]['keep'])} kept, "
        f"{', '.join(first[0]['accompaniment'])} drawn; the mean over the seeds of each "
        "seed's mean over the songs."
    )
    return "\n".join([head, "", *lines, ""])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    text = table({Path(d).name: _reports(Path(d)) for d in sys.argv[2:]})
    Path(sys.argv[1]).write_text(text)
    print(text)
