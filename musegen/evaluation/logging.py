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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from musegen.checks import number

log = logging.getLogger(__name__)


def report_scalars(report: dict[str, Any]) -> dict[str, float]:
    """Flat ``eval/...`` scalars of an evaluation report (NaNs and nulls dropped).

    Continuations: ``eval/oa``, ``eval/kl`` (the mean overlap), ``eval/<stat>/<Track>`` (the
    per-instrument statistics) and ``eval/<metric>`` (MusPy's); over time (``over_time``),
    ``eval/bar_oa/<block>`` (the mean per-bar OA of bars 1-4, ...), ``eval/bar_oa_drop``,
    ``eval/structureness`` and ``eval/structure_contrast`` (means over pieces) and their
    ``..._in_band`` shares; pieces from scratch the same under ``eval/scratch/``. A control
    row adds its name: ``eval/oa/real_vs_real``, ``eval/scratch/structureness/bar_looped``.
    Reports written before the overlap existed keep their keys (``eval/sim_pitch``, ...).
    """
    model = report.get("model")
    out: dict[str, Any] = {}

    def suffix(row: str) -> str:
        return "" if row == model else "/" + row_key(row.removesuffix(" test"))

    for row, res in report.get("similarity", {}).items():
        for feature, mean in res["mean"].items():
            out[f"eval/sim_{feature}{suffix(row)}"] = mean
    for metric, columns in report.get("metrics", {}).items():  # reports before the overlap
        for column, stat in columns.items():
            out[f"eval/{metric}{suffix(column)}"] = stat["mean"]
    for kind, scored in report.get("kinds", {}).items():
        prefix = "eval/" if kind == "continuation" else f"eval/{kind}/"
        for row, overlap in scored.get("overlap", {}).items():
            mean = overlap.get("mean") or {}
            out[f"{prefix}oa{suffix(row)}"] = mean.get("oa")
            out[f"{prefix}kl{suffix(row)}"] = mean.get("kl")
        for table in ("tracks", "musical"):
            for stat, cells in scored.get(table, {}).items():
                for row, cell in cells.items():
                    out[f"{prefix}{stat}{suffix(row)}"] = cell.get("mean")
        over_time = scored.get("over_time") or {}
        for row, result in over_time.get("rows", {}).items():
            for block, value in zip(over_time["blocks"], result["oa_blocks"], strict=False):
                out[f"{prefix}bar_oa/{block}{suffix(row)}"] = value
            out[f"{prefix}bar_oa_drop{suffix(row)}"] = result.get("oa_drop")
            for measure, stat in result.get("structure", {}).items():
                out[f"{prefix}{measure}{suffix(row)}"] = stat.get("mean")
                out[f"{prefix}{measure}_in_band{suffix(row)}"] = stat.get("in_band")
    return {k: float(v) for k, v in out.items() if number()(v)}  # finite numbers only


def row_key(row: str) -> str:
    """A reference row's name as a key part: ``"real vs real"`` -> ``real_vs_real``."""
    return row.strip().replace(" ", "_")


def log_report(
    loggers: Sequence[Any], report: dict[str, Any], step: int = 0, folder: str | Path = "."
) -> None:
    """Log ``report``'s scalars everywhere and its samples where media are understood;
    ``folder`` is the report's, which its samples' paths are relative to."""
    scalars = report_scalars(report)
    for logger in loggers:
        logger.log_metrics(scalars, step=step)
        if type(logger).__name__ == "WandbLogger":
            _log_media(logger, report, step, Path(folder))
        logger.save()


def _log_media(logger: Any, report: dict[str, Any], step: int, folder: Path) -> None:
    import wandb

    samples = report.get("samples", [])
    images = [str(folder / s["png"]) for s in samples if "png" in s]
    if images:
        logger.log_image(key="samples/pianoroll", images=images, step=step)
    wavs = [str(folder / (s.get("wav") or s["ogg"])) for s in samples if "wav" in s or "ogg" in s]
    if not wavs:
        return
    try:
        import soundfile  # noqa: F401  (wandb.Audio reads files through it)
    except (ImportError, OSError):
        log.warning("W&B audio skipped: install soundfile (pip install -e '.[audio]')")
        return
    logger.experiment.log({"samples/audio": [wandb.Audio(w) for w in wavs]}, step=step)
