"""Aggregate a sweep as soon as it ends: a Hydra callback (``hydra.callbacks``).

``experiment=compare`` registers it, so ``python -m musegen.train experiment=compare`` runs
the jobs and then writes ``comparison.{csv,md}`` and the plots into the sweep folder, as
``python -m musegen.compare <sweep folder>`` would. Hydra calls ``on_multirun_end`` in the
launching process after every job has returned (also with the joblib and submitit
launchers, which wait for their jobs), so it sees every run folder. A failed aggregation is
logged, never raised: the runs are done and can be compared again by hand.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from musegen.errors import UserError

log = logging.getLogger(__name__)


class CompareAfterSweep(Callback):
    """``on_multirun_end``: ``musegen.compare`` over the sweep folder, and its table to W&B
    when the sweep logs to W&B (``logger.wandb``)."""

    def __init__(self, title: str = "Comparison", paper: bool = False) -> None:
        self.title = title
        self.paper = paper

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from musegen.compare.main import compare
        from musegen.compare.wandb_table import log_table

        sweep_dir = Path(str(config.hydra.sweep.dir))
        command = "python -m musegen.train " + shlex.join(sys.argv[1:])
        try:
            result = compare([sweep_dir], title=self.title, command=command, paper=self.paper)
        except UserError as err:
            log.error("compare: %s", err)
            return
        log.info("comparison written: %s", result.files["comparison.md"])
        wandb_cfg = OmegaConf.select(config, "logger.wandb", default=None)
        if wandb_cfg is not None:  # the group the sweep's runs share (${sweep_group:})
            project = OmegaConf.select(wandb_cfg, "project", default="musegen")
            offline = OmegaConf.select(wandb_cfg, "offline", default=True)
            log_table(result, sweep_dir, sweep_dir.name, str(project), bool(offline))
