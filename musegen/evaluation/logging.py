"""Send an evaluation report to the run's loggers: scalars to every logger (the CSV log
included), pianoroll images and audio to Weights & Biases.

Scalars are flat keys, the same for every model so that a dashboard or ``musegen.compare``
puts the backbones of a sweep in one column: the model's own row is ``eval/sim_pitch`` or
``eval/groove_consistency``; a reference row adds its name, ``eval/sim_pitch/unigram`` or
``eval/groove_consistency/real`` (means over songs). The model's name lives in the run's
config and tags, not in the key.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def report_scalars(report: dict[str, Any]) -> dict[str, float]:
    """Flat ``eval/...`` scalars of an ``evaluate_run`` report (NaNs dropped)."""
    model = report.get("model")
    out: dict[str, float] = {}
    for row, res in report.get("similarity", {}).items():
        suffix = "" if row == model else "/" + row_key(row)
        for feature, mean in res["mean"].items():
            out[f"eval/sim_{feature}{suffix}"] = float(mean)
    for metric, columns in report.get("metrics", {}).items():
        for column, stat in columns.items():
            suffix = "" if column == model else "/" + row_key(column.removesuffix(" test"))
            out[f"eval/{metric}{suffix}"] = float(stat["mean"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


def row_key(row: str) -> str:
    """A reference row's name as a key part: ``"real vs real"`` -> ``real_vs_real``."""
    return row.strip().replace(" ", "_")


def log_report(loggers: Sequence[Any], report: dict[str, Any], step: int = 0) -> None:
    """Log ``report``'s scalars everywhere and its samples where media are understood."""
    scalars = report_scalars(report)
    for logger in loggers:
        logger.log_metrics(scalars, step=step)
        if type(logger).__name__ == "WandbLogger":
            _log_media(logger, report, step)
        logger.save()


def _log_media(logger: Any, report: dict[str, Any], step: int) -> None:
    import wandb

    samples = report.get("samples", [])
    images = [s["png"] for s in samples if "png" in s]
    if images:
        logger.log_image(key="samples/pianoroll", images=images, step=step)
    wavs = [s["wav"] for s in samples if "wav" in s]
    if not wavs:
        return
    try:
        import soundfile  # noqa: F401  (wandb.Audio reads files through it)
    except (ImportError, OSError):
        log.warning("W&B audio skipped: install soundfile (pip install -e '.[audio]')")
        return
    logger.experiment.log({"samples/audio": [wandb.Audio(w) for w in wavs]}, step=step)
