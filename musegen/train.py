"""Train one next-note model and test its best checkpoint: ``python -m musegen.train``.

The command line's entry point: it checks the overrides and the run folder, composes the
config with Hydra and hands it to ``training.train``, which builds and runs everything.
Lightning, torch and the data are imported only then, so a misspelt override or a busy run
folder is answered in one line before their import (seconds) begins. Tests and notebooks
compose a config with ``compose_config(...)`` and call ``training.train`` on it.
"""

from __future__ import annotations

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

import musegen.resolvers  # noqa: F401  (${uid:} in run folder names)
from musegen import sweeps
from musegen.atomic import FolderInUse, folder_in_use, launched_worker
from musegen.config_checks import CONFIG_DIR, check_config, check_overrides, compose_checked
from musegen.errors import reported


def compose_config(
    overrides: list[str] | tuple[str, ...] = (), output_dir: str | None = None
) -> DictConfig:
    """The config ``python -m musegen.train <overrides>`` would run, for tests and notebooks.

    Outside a Hydra run there is no ``hydra:runtime.output_dir``: ``output_dir`` stands in
    for it (``paths.output_dir``).
    """
    from hydra.core.hydra_config import HydraConfig

    check_overrides(overrides, CONFIG_DIR, config_name=None)
    cfg = compose_checked("train", list(overrides), CONFIG_DIR, return_hydra_config=True)
    HydraConfig().set_config(cfg)
    if output_dir is not None:
        cfg.paths.output_dir = str(output_dir)
    return cfg


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    key = cfg.get("optimized_metric", "val/loss")  # what an Optuna sweep minimises
    if sweeps.in_multirun():  # a failed job is recorded and the sweep goes on (musegen.sweeps)
        return sweeps.run_job(
            lambda: _train(cfg).get(key), cfg.paths.output_dir, failed_value=float("nan")
        )
    with reported():
        metrics = _train(cfg)
    return metrics.get(key)


def _train(cfg: DictConfig) -> dict[str, Any]:
    """``training.train(cfg)``, its settings checked first (``check_config``, which it runs
    too): a bad value is answered before training's imports, Lightning's among them."""
    check_config(cfg)
    from musegen.training import train

    return train(cfg)


def main() -> None:
    """Entry point: catch bad overrides before Hydra's multi-line report; a sweep with failed
    jobs ends with exit code 1 and one line naming them."""
    with reported():
        check_overrides(sys.argv[1:], CONFIG_DIR, "train")
        check_run_dir(sys.argv[1:])
        _hydra_main()
    if sweeps.failed_jobs:
        print(
            f"error: {len(sweeps.failed_jobs)} sweep job(s) failed: {sweeps.summary()}; "
            "each job's reason is in its folder's failed.json",
            file=sys.stderr,
        )
        sys.exit(sweeps.EXIT_SOME_FAILED)


def check_run_dir(args: list[str]) -> None:
    """``hydra.run.dir=<folder>`` of a live run: one line, before Hydra writes into it."""
    given = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if given and not launched_worker() and folder_in_use(given[-1]):
        raise FolderInUse.at(given[-1])


if __name__ == "__main__":
    main()
