"""Evaluate a trained checkpoint: ``python -m musegen.evaluate ckpt_path=...``.

The checkpoint's task (network and loss, from the checkpoint alone) is tested on the test
split of the data it was trained on (or ``data.<key>=`` overrides), and ``EvaluateAfterTest``
scores it as a training run's end does: ``evaluation.json`` and ``evaluation.md`` in
``out_dir`` (``evaluation.report`` says what they hold). ``split=val`` scores the
validation songs instead, without the test losses: where sampling settings are tuned, so
that the test songs stay unseen until the result is reported.

The run's own sampling and evaluation settings (its ``.hydra/config.yaml``) are the
defaults, command-line overrides go on top (``generation.run_defaults``), so a checkpoint
gets the figures its training run's end-of-run evaluation gave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from musegen.atomic import check_writable, clean_stale
from musegen.checks import ConfigError, at_least
from musegen.config_checks import check_missing
from musegen.data.tracks import LPD5_TRACKS
from musegen.errors import reported, stop_on_signals
from musegen.evaluation.callback import EvaluateAfterTest, written_as_one_set
from musegen.evaluation.report import SETTING_NAMES, check_scored_split
from musegen.generation.run_defaults import hydra_overrides, with_run_settings
from musegen.generation.runs import data_overrides, load_run, main_with_data_overrides
from musegen.models.task import load_task

RUN_SETTINGS = {key: key if key == "sampling" else f"evaluate.{key}" for key in SETTING_NAMES}
"""The settings a run's own config gives by default: key here -> key in the run's config."""


def _evaluation(cfg: DictConfig, settings: dict[str, Any]) -> EvaluateAfterTest:
    return EvaluateAfterTest(out_dir=check_writable(cfg.out_dir, "out_dir"), prefix="", **settings)


def run_evaluation(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``python -m musegen.evaluate``'s work, on a composed config; returns the report.
    ``overrides``: the command line's, which win over the run's own settings."""
    check_missing(cfg)
    _evaluation(cfg, {key: cfg[key] for key in SETTING_NAMES})  # the command line, first
    device = str(cfg.get("device", "cpu"))
    run = load_run(cfg.ckpt_path, device=device)
    settings, sources = with_run_settings(cfg, run.config, RUN_SETTINGS, overrides)
    evaluation = _evaluation(cfg, settings)
    evaluation.settings_from = sources
    clean_stale(evaluation.out_dir, recursive=True)
    evaluation.model_name = run.model_name
    task = load_task(run.ckpt_path, map_location=device)
    dm = run.datamodule(cfg.paths, data_overrides(cfg), command="evaluate")
    check_same_tracks(dm.track_names, task.net.config.track_names)
    dm.prepare_data()
    dm.setup("test")
    if cfg.get("accompany"):
        return accompaniment_report(cfg, run, task, dm, evaluation)
    split = evaluation.settings.split
    check_scored_split(dm, evaluation.settings.primer_len, split)  # before the test's minutes
    if cfg.get("losses", True) and split == "test":  # the test pass scores the test songs
        trainer = _trainer(device, evaluation)
        trainer.test(
            task, datamodule=dm, ckpt_path=str(run.ckpt_path), verbose=False, weights_only=True
        )
    else:
        evaluation.report = evaluation.evaluate(task, dm, ckpt_path=str(run.ckpt_path))
    return evaluation.report


def check_same_tracks(data: Sequence[str], model: Sequence[str] | None) -> None:
    """The data's tracks are the model's, in its order: a network reads track indices, so
    another order would score every note as another instrument's (one ``ConfigError``)."""
    model = list(model or data)
    if list(data) != model:
        raise ConfigError(
            f"data.tracks: the model plays [{','.join(model)}], in this order; got "
            f"[{','.join(data)}]: leave data.tracks out (the run's own is the default) or "
            "give the model's"
        )


def accompaniment_report(
    cfg: DictConfig, run: Any, task: Any, dm: Any, evaluation: EvaluateAfterTest
) -> dict[str, Any]:
    """``accompany=true``: the accompaniment of the kept tracks ``keep``, evaluated
    (``evaluation.accompaniment``) into ``out_dir``."""
    from musegen.data.performance import Performance
    from musegen.evaluation.accompaniment import evaluate_accompaniment
    from musegen.generation.accompany_file import resolve_tracks

    bars = at_least(cfg.get("accompany_bars", 16), "accompany_bars", 1)
    start = at_least(cfg.get("accompany_from", 0), "accompany_from", 0)
    if start >= bars:
        raise ConfigError(
            f"accompany_from={start}: the bars that prime the model must leave some of "
            f"accompany_bars={bars} to accompany; set accompany_from below {bars}"
        )
    model = [LPD5_TRACKS[t] for t in run.track_ids]
    keep, _ = resolve_tracks(cfg.get("keep"), None, model, model)
    with written_as_one_set(evaluation.out_dir) as stage:
        report = evaluate_accompaniment(
            task.net,
            dm,
            run.track_ids,
            stage,
            keep,
            bars,
            evaluation.settings,
            run.model_name,
            Performance.from_dict(getattr(task, "performance", None)),
            start,
        )
    evaluation.report = report
    return report


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
        run_evaluation(cfg, hydra_overrides())
    name = "accompaniment.md" if cfg.get("accompany") else "evaluation.md"
    print((Path(cfg.out_dir) / name).read_text())


def main() -> None:
    """Entry point: ``data.<key>=`` overrides the run's data config (e.g. ``data.root``);
    SIGTERM and Ctrl-C stop it cleanly (exit codes 143 and 130; ``errors.stop_on_signals``)."""
    stop_on_signals()
    main_with_data_overrides("evaluate", _hydra_main)


if __name__ == "__main__":
    main()
