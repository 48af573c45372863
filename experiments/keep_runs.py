"""Copy a sweep's comparison and its runs' records into ``experiments/``, with no path of the
machine that made them.

    python experiments/keep_runs.py SWEEP DEST

``SWEEP`` is a multirun folder on which ``python -m musegen.compare`` has run; ``DEST`` gets
its ``comparison.{md,csv}``, plots, listening page and ``listen/``, and ``runs/<job>/`` with
each job's ``metrics.json``, ``evaluation/evaluation.{json,md}``, ``.hydra/*.yaml``,
``csv/*`` and ``train.log`` (no checkpoints, no samples: the page's ``listen/`` holds what is
heard). Text files are written with the sweep folder as ``<sweep>`` and this checkout as
``<repo>``, so a committed record names no folder of one machine
(``tests/test_docs_tables.py`` checks every committed file). ``DEST``'s ``runs/`` and
``listen/`` are replaced whole; its other files (a note of the experiment's own) stay.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PAGE = ("comparison.md", "comparison.csv", "index.html", "val_loss.png", "test_metrics.png")
RECORDS = (
    "metrics.json",
    "failed.json",
    "train.log",
    "evaluation/evaluation.json",
    "evaluation/evaluation.md",
    ".hydra/config.yaml",
    ".hydra/overrides.yaml",
    ".hydra/hydra.yaml",
    "csv/metrics.csv",
    "csv/hparams.yaml",
)
TEXT = (".md", ".csv", ".html", ".json", ".log", ".yaml")


def placeholders(sweep: Path) -> list[tuple[str, str]]:
    """Absolute paths and what they become, the longest first: the sweep, this checkout, the
    shared data beside it, the checkout each job ran in (``hydra.runtime.cwd``: a worktree
    of this repository) and its data folder (``paths.data_dir``)."""
    pairs = {str(sweep.resolve()): "<sweep>", str(sweep): "<sweep>", str(REPO): "<repo>"}
    pairs[str(REPO.parent / "shared")] = "<repo>/../shared"  # the data beside the project
    for config in sweep.glob("*/.hydra/hydra.yaml"):
        cwd = yaml.safe_load(config.read_text())["hydra"]["runtime"]["cwd"]
        pairs.setdefault(cwd, "<repo>")
    for hparams in sweep.glob("*/csv/hparams.yaml"):  # resolved: MUSEGEN_DATA_DIR, if set
        for data_dir in re.findall(r"^\s*data_dir: (/\S+)$", hparams.read_text(), re.M):
            pairs.setdefault(data_dir, "<data_dir>")
    return sorted(pairs.items(), key=lambda p: -len(p[0]))


def copy_file(src: Path, dest: Path, replace: list[tuple[str, str]]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix in TEXT:
        text = src.read_text()
        for old, new in replace:
            text = text.replace(old, new)
        dest.write_text(text)
    else:
        shutil.copyfile(src, dest)


def keep_runs(sweep: Path, dest: Path) -> Path:
    """Write ``dest`` from ``sweep`` (module docstring); return ``dest``."""
    replace = placeholders(sweep)
    for folder in ("runs", "listen"):
        shutil.rmtree(dest / folder, ignore_errors=True)
    (dest / "index.html").unlink(missing_ok=True)
    for name in PAGE:
        if (sweep / name).is_file():
            copy_file(sweep / name, dest / name, replace)
    if (sweep / "listen").is_dir():
        for path in sorted((sweep / "listen").iterdir()):
            copy_file(path, dest / "listen" / path.name, replace)
    jobs = [p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()]
    for job in sorted(jobs, key=lambda p: int(p.name)):
        for name in RECORDS:
            if (job / name).is_file():
                copy_file(job / name, dest / "runs" / job.name / name, replace)
    return dest


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(keep_runs(Path(sys.argv[1]), Path(sys.argv[2])))
