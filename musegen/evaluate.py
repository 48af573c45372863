"""Evaluate a trained checkpoint: ``python -m musegen.evaluate ckpt_path=...``.

The checkpoint's task (network and loss, from the checkpoint alone) is tested on the test
split of the data it was trained on (or ``data.<key>=`` overrides), and ``EvaluateAfterTest``
scores it as a training run's end does: ``evaluation.json`` and ``evaluation.md`` in
``out_dir`` (``evaluation.report`` says what they hold).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from musegen.atomic import check_writable, clean_stale
from musegen.config_checks import check_missing, integer, require
from musegen.errors import reported
from musegen.evaluation.callback import EvaluateAfterTest
from musegen.generation.runs import data_overrides, load_run, main_with_data_overrides
from musegen.models.checkpoint import load_task


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """``python -m musegen.evaluate``'s work, on a composed config; returns the report."""
    check_missing(cfg)
    for key in ("max_songs", "max_notes"):
        require(cfg, key, integer(1), "an integer >= 1")
    require(cfg, "num_samples", integer(0), "an integer >= 0")
    evaluation = EvaluateAfterTest(
        out_dir=check_writable(cfg.out_dir, "out_dir"),
        max_songs=cfg.max_songs,
        max_notes=cfg.max_notes,
        num_samples=cfg.num_samples,
        audio=cfg.audio,
        seed=cfg.seed,
        sampling=cfg.sampling,
    )
    clean_stale(evaluation.out_dir, recursive=True)
    device = str(cfg.get("device", "cpu"))
    run = load_run(cfg.ckpt_path, device=device)
    evaluation.model_name = run.model_name
    task = load_task(run.ckpt_path, map_location=device)
    dm = run.datamodule(cfg.paths, data_overrides(cfg))
    if cfg.get("losses", True):
        trainer = _trainer(device, evaluation)
        trainer.test(
            task, datamodule=dm, ckpt_path=str(run.ckpt_path), verbose=False, weights_only=True
        )
    else:
        dm.prepare_data()
        dm.setup("test")
        evaluation.report = evaluation.evaluate(task, dm, ckpt_path=str(run.ckpt_path))
    return evaluation.report


def _trainer(device: str, evaluation: EvaluateAfterTest) -> Any:
    import lightning as L

    return L.Trainer(
        accelerator=device,
        devices=1,
        logger=False,
        callbacks=[evaluation],
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def _hydra_main(cfg: DictConfig) -> None:
    with reported():
        run_evaluation(cfg)
    print((Path(cfg.out_dir) / "evaluation.md").read_text())


def main() -> None:
    """Entry point: ``data.<key>=`` overrides the run's data config (e.g. ``data.root``)."""
    main_with_data_overrides("evaluate", _hydra_main)


if __name__ == "__main__":
    main()
