"""The comparison as a W&B Table, in the sweep's W&B group (offline unless configured).

One row per group of the comparison, the same columns as ``comparison.csv``, logged by a
run of ``job_type="compare"`` in the group the sweep's training runs share
(``logger.wandb.group``), so the dashboard shows the table beside the four models' curves.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def table_rows(csv_text: str) -> tuple[list[str], list[list[Any]]]:
    """``comparison.csv``'s header and rows, numbers as floats (W&B charts need numbers)."""
    reader = csv.reader(io.StringIO(csv_text))
    header = next(reader)
    rows = []
    for row in reader:
        cells: list[Any] = []
        for cell in row:
            try:
                cells.append(float(cell))
            except ValueError:
                cells.append(cell if cell else None)
        rows.append(cells)
    return header, rows


def log_table(
    result: Any, out_dir: Path, group: str | None, project: str = "musegen", offline: bool = True
) -> str | None:
    """Log ``result`` (a ``Comparison``) as ``comparison`` in a W&B run of ``group``; return
    the run's folder, or None when W&B could not start (the files on disk are the result)."""
    import wandb

    header, rows = table_rows(result.files["comparison.csv"].read_text())
    try:
        run = wandb.init(
            project=project,
            group=group,
            job_type="compare",
            name="compare",
            dir=str(out_dir),
            mode="offline" if offline else "online",
            reinit="finish_previous",
        )
        run.log({"comparison": wandb.Table(columns=header, data=rows)})
        run_dir = run.dir
        run.finish()
    except Exception as err:
        log.warning("compare: the W&B table was not logged: %s", err)
        return None
    return str(run_dir)
