"""One row per sampling setting, over seeds: how far its continuations' note lengths and
densities lie from the real songs', whether it follows each song, and its overlap.

    python experiments/note_length/choose.py OUT.md DIR [DIR ...]

DIR holds ``songs.py``'s outputs named ``s<seed>_<setting>.csv`` with their evaluation
folders ``s<seed>_<setting>/`` (``songs.py DIR/s1_base.md <ckpt> split=val ...``); more
DIRs add draws (the same checkpoints evaluated with another ``seed=``). Per setting, the
mean over its seeds and draws of: the share of songs whose primer does not play a track
that the continuation brings it in (real beside it), Spearman's rho of the model's mean
note length with the real song's (weighted over tracks, ``songs.correlations``), each pitched
track's mean duration and notes per bar as a share of real (``measure.figures``), the
semitone clusters, the mean OA of continuations and from scratch, and the **distance**: the
mean over those eight shares of ``|log(share)|`` (0: every track at real length and
density; a track at half or double real adds log 2 = 0.69). Settings are chosen by the
distance, on the validation songs. Made for experiments/note_length/README.md, "The
piece's own music".
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).parent
PITCHED = ("Piano", "Guitar", "Bass", "Strings")
NAME = re.compile(r"s(\d+)_(.+)\.csv$")


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


songs, measure = _module("songs"), _module("measure")


def row(csv_path: Path) -> dict[str, float]:
    """The figures of one evaluation (one seed of one setting)."""
    table = songs.read_csv(csv_path)
    entry = songs.entries(table)["all"]
    rho = songs.correlations(table)["all, weighted"]["duration"]
    fig = measure.figures(json.loads((csv_path.with_suffix("") / "evaluation.json").read_text()))
    out = {"entry": entry["model"], "entry real": entry["real"], "rho": rho}
    for track in PITCHED:
        for figure in ("duration", "notes_per_bar"):
            key = f"cont/{figure}/{track}"
            out[f"{figure} {track}"] = fig[key] / fig[f"{key}/real"]
    shares = [out[f"{f} {t}"] for t in PITCHED for f in ("duration", "notes_per_bar")]
    out["distance"] = statistics.fmean(abs(math.log(s)) for s in shares)
    out["clusters"] = fig["cont/semitone_clusters"]
    out["cont OA"], out["scratch OA"] = fig["cont/oa"], fig["scratch/oa"]
    return out


def settings(folders: list[Path]) -> dict[str, dict[str, dict[str, float]]]:
    """``{setting: {"<seed>": figures}}`` of every ``s<seed>_<setting>.csv`` in the first
    folder, ``"<seed>/<i>"`` in the i-th after it."""
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for i, folder in enumerate(folders):
        for path in sorted(folder.glob("s*_*.csv")):
            match = NAME.search(path.name)
            if match:
                seed = match.group(1) + (f"/{i}" if i else "")
                out[match.group(2)][seed] = row(path)
    return dict(out)


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def write(out: Path, found: dict[str, dict[str, dict[str, Any]]], title: str) -> None:
    head = ["setting", "seeds (/draw)", "enters (real)", "rho length"]
    head += [f"{t} dur" for t in PITCHED] + [f"{t} n/bar" for t in PITCHED]
    head += ["distance", "clusters", "cont. OA", "scratch OA"]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, seeds in sorted(found.items(), key=lambda kv: _mean(kv[1], "distance")):
        cells = [name, ",".join(str(s) for s in sorted(seeds))]
        cells.append(f"{_mean(seeds, 'entry'):.2f} ({_mean(seeds, 'entry real'):.2f})")
        cells.append(f"{_mean(seeds, 'rho'):.2f}")
        cells += [_pct(_mean(seeds, f"duration {t}")) for t in PITCHED]
        cells += [_pct(_mean(seeds, f"notes_per_bar {t}")) for t in PITCHED]
        cells += [f"{_mean(seeds, k):.3f}" for k in ("distance", "clusters", "cont OA")]
        cells.append(f"{_mean(seeds, 'scratch OA'):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    out.write_text("\n".join(lines) + "\n")


def _mean(seeds: dict[str, dict[str, float]], key: str) -> float:
    values = [v[key] for v in seeds.values() if math.isfinite(v[key])]
    return statistics.fmean(values) if values else math.nan


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    out, folders = Path(argv[0]), [Path(a) for a in argv[1:]]
    found = settings(folders)
    if not found:
        sys.exit(f"{folders[0]}: no s<seed>_<setting>.csv from songs.py")
    names = ", ".join(f.name for f in folders)
    write(out, found, f"Sampling settings, mean over seeds and draws: {names}")
    print(out.read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
