"""A sweep that survives its failed jobs: each failure is recorded in its job's folder, the
other jobs run, the comparison is written over those that finished, and the sweep's exit
code says that some failed.

Hydra's launchers stop a sweep at a job that exits (a user error's exit code 2), and end it
with a traceback, without its ``on_multirun_end`` callbacks, when a job raised. So in a
multirun a job never raises out of ``musegen.train``: ``run_job`` writes ``failed.json``
(the one-line reason, the kind of failure, and the traceback of a bug) into the job's
folder and returns normally. ``SweepReport``, a Hydra callback every sweep has
(``conf/hydra/default.yaml``), collects the failed jobs at the end, also those another
process ran (joblib, SLURM); ``musegen.train``'s entry point then exits with code 1 and one
line naming them. ``musegen.compare`` reads ``failed.json`` as a failed run's reason.

A stop is not a failure: SIGTERM or Ctrl-C during a job ends the sweep there, no later job
starts, and the command exits with the signal's code (the stop rule, ``musegen.errors``);
the stopped job keeps its ``metrics.json`` and ``interrupted.ckpt``, and the comparison is
not written.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from musegen.atomic import write_json_atomic
from musegen.errors import Stopped, UserError, first_line

log = logging.getLogger(__name__)

FAILED = "failed.json"
EXIT_SOME_FAILED = 1

failed_jobs: list[tuple[str, str]] = []
"""``(job folder, reason)`` of the last sweep's failed jobs, set by ``SweepReport``."""


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_job(body: Callable[[], Any], output_dir: str | Path, failed_value: Any = None) -> Any:
    """Run a sweep job's ``body``; on any failure record it in ``output_dir`` and return
    ``failed_value`` instead of raising (module docstring). A stop (SIGTERM, Ctrl-C) is not
    a failure: it ends the sweep as a whole, the job's own record saying where it stopped
    (``musegen.errors``, ``musegen.train``)."""
    try:
        return body()
    except (Stopped, KeyboardInterrupt):
        raise
    except Exception as exc:
        user = isinstance(exc, UserError)
        reason = first_line(exc)
        record = {
            "error": reason,
            "kind": "user error" if user else f"{type(exc).__name__} (a bug: traceback below)",
            "traceback": None if user else traceback.format_exc(),
        }
        write_json_atomic(Path(output_dir) / FAILED, record, indent=2)
        line = f"job failed: {reason}"
        log.error(line)  # reaches the console and the job's train.log
        return failed_value


def read_failure(folder: Path) -> str | None:
    """The reason a job failed (its ``failed.json``), or None."""
    path = Path(folder) / FAILED
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return "failed (its failed.json is unreadable)"
    return str(data.get("error") if isinstance(data, dict) else data)


class SweepReport(Callback):
    """At the end of a sweep: which jobs failed, logged and kept for the exit code."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(str(config.hydra.sweep.dir))
        failed_jobs.clear()
        for path in sorted(sweep.glob(f"*/{FAILED}"), key=lambda p: _job_order(p.parent.name)):
            failed_jobs.append((path.parent.name, read_failure(path.parent) or "failed"))
        if failed_jobs:
            log.error("%d sweep job(s) failed: %s", len(failed_jobs), summary())


def _job_order(name: str) -> tuple[int, int, str]:
    """Hydra's numbered job folders in number order (2 before 10), any others after."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def summary() -> str:
    """``job 3 (reason); job 7 (reason)`` of the last sweep's failed jobs."""
    return "; ".join(f"job {job} ({reason})" for job, reason in failed_jobs)
