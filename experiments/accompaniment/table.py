"""The accompaniment evaluation of several seeds in one table.

    python experiments/accompaniment/table.py OUT.md EVAL_DIR ...

Each ``EVAL_DIR`` holds the ``accompaniment.json`` of one ``python -m musegen.evaluate
ckpt_path=... accompany=true`` (one seed's model). Writes ``OUT.md``: per row (the model,
the songs' own accompaniment and the controls) the mean over the seeds of each cross-track
figure and of the whole pieces' mean OA, ± the std over the seeds, and whether every seed
ranks the model above each control on each figure. Made for
experiments/accompaniment/lakh/README.md.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

from musegen.metrics.accompaniment import FIGURES


def _fmt(values: list[float]) -> str:
    ok = [v for v in values if v is not None and math.isfinite(v)]
    if not ok:
        return "–"
    std = statistics.stdev(ok) if len(ok) > 1 else math.nan
    return f"{statistics.fmean(ok):.3f}" + (f" ± {std:.3f}" if math.isfinite(std) else "")


def table(reports: list[dict]) -> str:
    """The markdown of the module docstring, from the seeds' ``accompaniment.json``."""
    model = reports[0]["model"]
    rows = list(reports[0]["figures"])
    columns = [*FIGURES, "mean OA"]

    def value(report: dict, row: str, column: str) -> float:
        if column == "mean OA":
            return report["set"]["overlap"][row]["mean"]["oa"]
        return report["figures"][row][column]["mean"]

    lines = [
        f"| row | {' | '.join(c.replace('_', ' ') for c in columns)} |",
        "| --- |" + " --- |" * len(columns),
    ]
    for row in rows:
        cells = [_fmt([value(r, row, c) for r in reports]) for c in columns]
        lines.append(f"| {row} | {' | '.join(cells)} |")
    controls = [r for r in rows if r not in (model, "real")]
    above = []
    for column in columns:
        beaten = [
            c
            for c in controls
            if all(value(r, model, column) > value(r, c, column) for r in reports)
        ]
        below_real = all(value(r, model, column) < value(r, "real", column) for r in reports)
        missed = [c for c in controls if c not in beaten]
        note = f" (not {', '.join(missed)})" if missed else ""
        real = "below" if below_real else "not below"
        above.append(
            f"- {column.replace('_', ' ')}: above {', '.join(beaten) or 'no control'} on every "
            f"seed{note}; {real} the songs' own on every seed"
        )
    first = reports[0]
    head = (
        f"{len(reports)} seeds; each: the first {first['bars']} bars of "
        f"{len(first['song_ids'])} {first['split']} songs, {', '.join(first['keep'])} kept, "
        f"{', '.join(first['accompaniment'])} drawn. Mean ± std over the seeds of each seed's "
        "mean over the songs."
    )
    return "\n".join([head, "", *lines, "", *above, ""])


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    reports = [json.loads((Path(d) / "accompaniment.json").read_text()) for d in sys.argv[2:]]
    text = table(reports)
    Path(sys.argv[1]).write_text(text)
    print(text)
