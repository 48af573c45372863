"""Evaluate the tested weights as soon as ``Trainer.test`` ends.

A callback, so that the entry points only wire: ``musegen.train`` adds it from
``cfg.evaluate`` (the best checkpoint is what ``trainer.test`` loaded), and
``musegen.evaluate`` adds it to the test of a saved checkpoint. Either way the report is
written, its scalars go to the run's loggers (``evaluation.logging``), and ``run_metrics()``
hands them to ``metrics.json``.

The report is written as one set (``atomic.output_set``): staged inside ``out_dir`` and
swapped in for an earlier evaluation's files only once complete, so a folder never holds one
evaluation's samples beside another's ``evaluation.json`` or listening page.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import lightning as L

from musegen.atomic import output_set
from musegen.checks import ConfigError
from musegen.data.performance import Performance
from musegen.evaluation.logging import log_report, report_scalars
from musegen.evaluation.report import (
    SETTING_NAMES,
    EvaluationSettings,
    check_scored_split,
    evaluate_songs,
)
from musegen.generation.notes import model_track_ids
from musegen.render.audio import ogg_unavailable

MANIFESTS = ("evaluation.json", "accompaniment.json")
OUTPUTS = frozenset(
    {*MANIFESTS, "evaluation.md", "accompaniment.md", "index.html", "over_time.png", "samples"}
)
"""What an evaluation (or an accompaniment's) writes into its folder: a later one replaces
all of it, so an accompaniment's page never stands beside an evaluation's report."""


def written_as_one_set(out_dir: str | Path) -> AbstractContextManager[Path]:
    """``atomic.output_set`` for an evaluation's folder: yields the staging folder."""
    return output_set(out_dir, OUTPUTS.__contains__, MANIFESTS)


class EvaluateAfterTest(L.Callback):
    """Score the network just tested on the datamodule's test songs (``report``).

    Parameters
    ----------
    enabled : bool
        ``False`` makes it do nothing (``evaluate.enabled=false``).
    out_dir : path
        Where ``evaluation.{json,md}`` and ``samples/`` go.
    model_name : str
        The model's row in the report.
    sampling : mapping, optional
        ``conf/sampling`` (temperature, top_k, top_p, ...).
    prefix : str
        How the settings are named in one-line errors (``evaluate.`` in a training config).
    **settings
        ``EvaluationSettings``' (``conf/evaluation/default.yaml``); the others default.
    """

    def __init__(
        self,
        enabled: bool = True,
        out_dir: str | Path = "evaluation",
        model_name: str = "model",
        sampling: Mapping[str, Any] | None = None,
        prefix: str = "evaluate.",
        **settings: Any,
    ) -> None:
        unknown = sorted(set(settings) - set(SETTING_NAMES))
        if unknown:
            raise ConfigError(f"{prefix}{unknown[0]}: not an evaluation setting")
        self.enabled, self.out_dir, self.model_name = bool(enabled), Path(out_dir), model_name
        self.settings = EvaluationSettings.from_config(settings, sampling, prefix)
        if self.enabled and self.settings.audio and self.settings.audio_format == "ogg":
            reason = ogg_unavailable()  # now, not after the minutes of scoring
            if reason is not None:
                raise ConfigError(
                    f"{prefix}audio_format=ogg: {reason}; or {prefix}audio_format=wav"
                )
        self.report: dict[str, Any] | None = None
        self.settings_from: dict[str, str] = {"*": "the training run's config"}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Before training (the datamodule is set up by now): refuse a test split the
        evaluation could not score, instead of after the whole run."""
        if self.enabled and stage == "fit" and getattr(trainer.datamodule, "splits", None):
            check_scored_split(trainer.datamodule, self.settings.primer_len, self.settings.split)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or not trainer.is_global_zero:
            return
        losses = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        self.report = self.evaluate(pl_module, trainer.datamodule, losses, trainer.ckpt_path)
        log_report(trainer.loggers, self.report, trainer.global_step, self.out_dir)

    def evaluate(
        self,
        pl_module: L.LightningModule,
        dm: Any,
        losses: dict[str, float] | None = None,
        ckpt_path: str | None = None,
    ) -> dict[str, Any]:
        """The report of ``pl_module.net`` on ``dm`` (set up for testing), played at the
        tempo and velocities of the training songs where the music does not say
        (``pl_module.performance``, stored in its checkpoint)."""
        net = pl_module.net
        with written_as_one_set(self.out_dir) as stage:
            return evaluate_songs(
                net,
                model_track_ids(net.config.track_names),
                dm,
                stage,
                self.settings,
                model_name=self.model_name,
                losses=losses,
                ckpt_path=ckpt_path,
                resolution=dm.resolution,
                performance=Performance.from_dict(getattr(pl_module, "performance", None)),
                settings_from=self.settings_from,
            )

    def run_metrics(self) -> dict[str, float]:
        """What ``metrics.json`` records of the report: every similarity and musical-metric
        mean, the model's and the reference rows' (``eval/...``)."""
        if self.report is None:
            return {}
        return report_scalars(self.report)
