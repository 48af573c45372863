"""Choose experiment=lakh's pitch temperature on the validation songs, never the test songs.

    python experiments/note_model/pitch_temperature.py SWEEP OUT [T ...]

``SWEEP`` is a ``make note-model`` sweep folder. Each of its runs' tested checkpoint (the one
its end-of-run evaluation scored) is evaluated on the validation songs of its own split
(``python -m musegen.evaluate split=val``) at each pitch temperature (default 0.3 0.4 0.5),
every other sampling setting as the run had it. The evaluations go to ``OUT/evals/``;
``OUT/pitch_temperature.md`` and ``.csv`` hold the seeds' mean ± std per experiment and
temperature. Made for experiments/README.md, "Note model" (the pitch temperature).
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

from musegen.evaluation.logging import report_scalars

COLUMNS = {  # report scalar -> column title
    "eval/oa": "continuations: mean OA",
    "eval/scratch/oa": "from scratch: mean OA",
    "eval/scale_consistency": "scale consistency",
    "eval/pitch_class_entropy": "pitch-class entropy",
}
PITCHED = ("Piano", "Guitar", "Bass", "Strings")


def _override(run: Path, key: str) -> str:
    """The value of ``key=`` among the run's command-line overrides."""
    for item in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()):
        if item.startswith(f"{key}="):
            return item.split("=", 1)[1]
    raise SystemExit(f"{run}: no {key}= override; is this a make note-model sweep?")


def _tested_checkpoint(run: Path) -> Path:
    """The checkpoint the run's test and evaluation used (``metrics.json``'s ``best_ckpt``,
    relative to the run folder)."""
    return run / json.loads((run / "metrics.json").read_text())["best_ckpt"]


def evaluate(run: Path, temperature: float, out: Path) -> dict[str, float]:
    """The report scalars of ``run``'s tested weights on its validation songs."""
    if not (out / "evaluation.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "musegen.evaluate",
                f"ckpt_path={_tested_checkpoint(run)}",
                "split=val",
                "losses=false",
                "audio=false",
                "num_samples=0",
                f"sampling.pitch.temperature={temperature}",
                f"out_dir={out}",
                f"hydra.run.dir={out}/hydra",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return report_scalars(json.loads((out / "evaluation.json").read_text()))


def _cell(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    sweep, out = Path(argv[0]), Path(argv[1])
    temperatures = [float(t) for t in argv[2:]] or [0.3, 0.4, 0.5]
    runs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    rows: dict[tuple[str, float], list[dict[str, float]]] = {}
    for run in runs:
        name = _override(run, "experiment")
        for t in temperatures:
            scalars = evaluate(run, t, out / "evals" / f"{run.name}_t{t}")
            rows.setdefault((name, t), []).append(scalars)
    real = next(iter(rows.values()))[0]
    header = ["row", "runs", *COLUMNS.values(), "mean OA of both kinds"]
    header.append("out of range (worst pitched track)")
    table = []
    for (name, t), found in rows.items():
        cells = [_cell([s[k] for s in found]) for k in COLUMNS]
        cells.append(_cell([(s["eval/oa"] + s["eval/scratch/oa"]) / 2 for s in found]))
        worst = [max(s[f"eval/out_of_range/{tr}"] for tr in PITCHED) for s in found]
        row = f"experiment={name}, pitch temperature {t}"
        table.append([row, str(len(found)), *cells, _cell(worst)])
    table.append(
        [
            "*real vs real*",
            "",
            *(f"{real[k + '/real_vs_real']:.3f}" for k in COLUMNS),
            f"{(real['eval/oa/real_vs_real'] + real['eval/scratch/oa/real_vs_real']) / 2:.3f}",
            f"{max(real[f'eval/out_of_range/{tr}/real_vs_real'] for tr in PITCHED):.3f}",
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pitch_temperature.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([header, *table])
    md = [
        "# Pitch temperature of experiment=lakh, on the validation songs",
        "",
        f"    python experiments/note_model/pitch_temperature.py {sweep} {out} "
        + " ".join(str(t) for t in temperatures),
        "",
        f"Each run of `{sweep.name}` (its tested checkpoint) continues the validation songs of its "
        "split and writes pieces from scratch at each pitch temperature; mean ± std over the "
        "seeds. The reference set is the training songs, as in the test's evaluation.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in table),
        "",
    ]
    (out / "pitch_temperature.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1:])
