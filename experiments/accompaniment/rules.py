"""The accompaniment's draw rules on the validation songs: which strengths come closest to
the songs' own accompaniment.

    python experiments/accompaniment/rules.py OUT.md SEED_DIR ...

Each ``SEED_DIR`` holds one folder per setting, named ``h<harmony>_r<root>_o<on_kept>``,
or ``h<harmony>_r<root>_o<on_kept>_s<step temperature>``, with the ``accompaniment.json`` of

    python -m musegen.evaluate ckpt_path=<seed> accompany=true split=val audio=false \\
        ++sampling.pitch.harmony=H ++sampling.tracks.Bass.pitch.root=R \\
        ++sampling.step.on_kept=O [++sampling.step.temperature=S]

Writes ``OUT.md``: per setting run on every seed, the mean over the seeds of each
cross-track figure and of the mean OA, and the distance to the songs' own accompaniment
(the sum over chord, onset and bass agreement of the absolute difference of the seed means);
the setting with the least distance is named. Key agreement is shown, not counted: a song's
own accompaniment moved a beat scores as high on it (experiments/accompaniment/lakh).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

COUNTED = ("chord_agreement", "onset_agreement", "bass_agreement")
SHOWN = ("key_agreement", *COUNTED)


def _setting(name: str) -> tuple[float, float, float, float]:
    """``h0.5_r0.4_o0.15_s0.7`` -> (0.5, 0.4, 0.15, 0.7); without ``_s``, the step
    temperature is -1 (the run's own)."""
    h, r, o, *step = name.split("_")
    return float(h[1:]), float(r[1:]), float(o[1:]), float(step[0][1:]) if step else -1.0


def collect(seed_dirs: list[Path]) -> dict[str, list[dict]]:
    """Each setting run on every seed -> its seeds' reports."""
    names = set.intersection(
        *({p.name for p in d.iterdir() if (p / "accompaniment.json").is_file()} for d in seed_dirs)
    )
    return {
        n: [json.loads((d / n / "accompaniment.json").read_text()) for d in seed_dirs]
        for n in sorted(names, key=_setting, reverse=True)
    }


def _mean(reports: list[dict], row: str, column: str) -> float:
    if column == "mean OA":
        return statistics.fmean(r["set"]["overlap"][row]["mean"]["oa"] for r in reports)
    return statistics.fmean(r["figures"][row][column]["mean"] for r in reports)


def table(runs: dict[str, list[dict]]) -> tuple[str, str]:
    """The markdown of the module docstring, and the chosen setting's name."""
    first = next(iter(runs.values()))
    model = first[0]["model"]
    columns = [*SHOWN, "mean OA"]
    real = {c: _mean(first, "real", c) for c in columns}
    distance = {n: sum(abs(_mean(r, model, c) - real[c]) for c in COUNTED) for n, r in runs.items()}
    best = min(distance, key=distance.__getitem__)
    stepped = any(_setting(n)[3] >= 0 for n in runs)  # a step temperature column
    names = ["harmony", "root (Bass)", "on_kept"] + (["step temperature"] if stepped else [])
    lines = [
        f"| {' | '.join(names)} | "
        + " | ".join(c.replace("_", " ") for c in columns)
        + " | distance |",
        "|" + " --- |" * (len(names) + len(columns) + 1),
    ]
    for name, reports in runs.items():
        cells = [f"{_mean(reports, model, c):.3f}" for c in columns]
        mark = " **(chosen)**" if name == best else ""
        values = _setting(name)[: len(names)]
        setting = " | ".join("run's" if v < 0 else f"{v:g}" for v in values)
        lines.append(f"| {setting} | {' | '.join(cells)} | {distance[name]:.3f}{mark} |")
    blanks = " |" * (len(names) - 1)
    for row in ("real", "shifted a beat", "another song"):
        cells = [f"{_mean(first, row, c):.3f}" for c in columns]
        lines.append(f"| {row} |{blanks} {' | '.join(cells)} | |")
    seeds = f"{len(first)} seed{'s' if len(first) > 1 else ''}"
    head = (
        f"{seeds}; each: the first {first[0]['bars']} bars of "
        f"{len(first[0]['song_ids'])} {first[0]['split']} songs, {', '.join(first[0]['keep'])} "
        f"kept, {', '.join(first[0]['accompaniment'])} drawn. Mean over the seeds of each "
        "seed's mean over the songs; distance: the sum over chord, onset and bass agreement of "
        "|model - real|."
    )
    h, r, o, step = _setting(best)
    chosen = f"Chosen: harmony {h:g}, root {r:g} (Bass), on_kept {o:g}"
    chosen += f", step temperature {step:g}." if step >= 0 else "."
    return "\n".join([head, "", *lines, "", chosen, ""]), best


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    text, _ = table(collect([Path(d) for d in sys.argv[2:]]))
    Path(sys.argv[1]).write_text(text)
    print(text)
