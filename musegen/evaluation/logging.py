"""Send an evaluation report to the run's loggers: scalars to every logger (the CSV log
included), pianoroll images and audio to Weights & Biases.

Scalars are flat keys such as ``eval/sim_pitch/lstm_gru`` or ``eval/sim_pitch/unigram`` (the
mean over songs), so the sweep report and the W&B dashboard read them like any metric.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def report_scalars(report: dict[str, Any]) -> dict[str, float]:
    """Flat ``eval/...`` scalars of an ``evaluate_run`` report (NaNs dropped)."""
    out: dict[str, float] = {}
    for row, res in report.get("similarity", {}).items():
        for feature, mean in res["mean"].items():
            out[f"eval/sim_{feature}/{row}"] = float(mean)
    for metric, columns in report.get("metrics", {}).items():
        for column, stat in columns.items():
            out[f"eval/{metric}/{column}"] = float(stat["mean"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


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
