"""The issue's targets per run of a ``make note-model`` sweep, from its runs' records.

    python experiments/note_model/targets.py RUNS OUT.md

``RUNS`` holds one folder per job with ``metrics.json`` and ``.hydra/overrides.yaml`` (a
sweep folder, or its committed copy ``experiments/note_model/lakh/runs``). Written for
experiments/README.md, "Note model": per job, the note NLL, mean OA, scale consistency, the
worst pitched track's share of notes out of range and the worst track's note share against
the real share (over or under, whichever is further from 1); per experiment, the worst share
ratio of the seeds' mean shares.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import yaml

TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
PITCHED = TRACKS[1:]


def _overrides(run: Path) -> dict[str, str]:
    items = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    return dict(item.split("=", 1) for item in items)


def _worst_ratio(shares: dict[str, float], real: dict[str, float]) -> tuple[float, str]:
    """The track whose share is furthest from the real one, as a ratio >= 1."""
    ratios = {t: shares[t] / real[t] for t in TRACKS}
    track = max(ratios, key=lambda t: max(ratios[t], 1 / ratios[t]))
    r = ratios[track]
    return max(r, 1 / r), f"{track} {'over' if r > 1 else 'under'}"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    runs, out = Path(argv[0]), Path(argv[1])
    md = [
        "# The note model's targets, per run",
        "",
        f"    python experiments/note_model/targets.py {runs} {out}",
        "",
        "| job | experiment | seed | note NLL | mean OA | scale consistency "
        "| out of range (worst pitched track) | note share / real (worst track) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_experiment: dict[str, list[dict[str, float]]] = {}
    for run in sorted((p.parent for p in runs.glob("*/metrics.json")), key=lambda p: p.name):
        m = json.loads((run / "metrics.json").read_text())
        o = _overrides(run)
        by_experiment.setdefault(o["experiment"], []).append(m)
        oor = {t: m[f"eval/out_of_range/{t}"] for t in PITCHED}
        worst = max(oor, key=oor.get)
        shares = {t: m[f"eval/share/{t}"] for t in TRACKS}
        real = {t: m[f"eval/share/{t}/real_vs_real"] for t in TRACKS}
        ratio, which = _worst_ratio(shares, real)
        md.append(
            f"| {run.name} | {o['experiment']} | {o.get('seed', '')} | {m['test/note_nll']:.3f} "
            f"| {m['eval/oa']:.3f} | {m['eval/scale_consistency']:.3f} "
            f"| {oor[worst]:.3f} ({worst}) | {ratio:.2f} ({which}) |"
        )
    md += ["", "| experiment | note share / real of the seeds' mean shares (worst track) |"]
    md += ["| --- | --- |"]
    for name, found in by_experiment.items():
        mean = {t: statistics.mean(m[f"eval/share/{t}"] for m in found) for t in TRACKS}
        real = {t: found[0][f"eval/share/{t}/real_vs_real"] for t in TRACKS}
        ratio, which = _worst_ratio(mean, real)
        md.append(f"| {name} | {ratio:.2f} ({which}) |")
    out.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1:])
