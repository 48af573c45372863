"""Ways of decoding an accompaniment side by side: the cross-track figures, the whole pieces'
mean OA and how much of the music each drawn track plays.

    python experiments/accompaniment/decoding.py OUT.md VARIANT_DIR ...

Each ``VARIANT_DIR`` (its name is the row's) holds one folder per seed with the
``accompaniment.json`` of ``python -m musegen.evaluate ckpt_path=... accompany=true``.
Writes ``OUT.md``: per variant the mean over its seeds of each figure, then the songs' own
accompaniment (the first variant's: the same songs in every one). A track's share is its
share of all the piece's notes, the kept tracks' included, so a drawn part that is too dense
shows as a share above real. Made for experiments/accompaniment/lakh/README.md.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from musegen.metrics.accompaniment import FIGURES


def _reports(variant: Path) -> list[dict]:
    files = sorted(variant.glob("*/accompaniment.json"))
    if not files:
        raise SystemExit(f"{variant}: no <seed>/accompaniment.json in it")
    return [json.loads(f.read_text()) for f in files]


def _value(report: dict, row: str, column: str) -> float:
    if column == "mean OA":
        return report["set"]["overlap"][row]["mean"]["oa"]
    if column.startswith("share/"):
        return report["set"]["tracks"][column][row]["mean"]
    return report["figures"][row][column]["mean"]


def table(variants: dict[str, list[dict]]) -> str:
    """The markdown of the module docstring."""
    first = next(iter(variants.values()))
    shares = [f"share/{t}" for t in first[0]["accompaniment"]]
    columns = [*FIGURES, "mean OA", *shares]
    names = [c.replace("_", " ").replace("share/", "share of ") for c in columns]
    lines = [
        f"| decoding | seeds | {' | '.join(names)} |",
        "| --- | --- |" + " --- |" * len(columns),
    ]

    def row(label: str, reports: list[dict], who: str) -> str:
        cells = [f"{statistics.fmean(_value(r, who, c) for r in reports):.3f}" for c in columns]
        return f"| {label} | {len(reports)} | {' | '.join(cells)} |"

    for name, reports in variants.items():
        lines.append(row(name, reports, reports[0]["model"]))
    lines.append(row("real", first, "real"))
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
