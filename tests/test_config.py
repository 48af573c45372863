"""The Hydra config: every group choice composes, and user mistakes stop in one line."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from musegen import instantiate as build
from musegen.config_checks import CONFIG_DIR, ConfigError, check_overrides, group_choices
from musegen.train import compose_config
from musegen.training import train
from tests.conftest import MODELS

ROOT = Path(__file__).resolve().parents[1]
GROUPS = (
    "data",
    "model",
    "task",
    "sampling",
    "trainer",
    "logger",
    "callbacks",
    "experiment",
    "debug",
    "hparams_search",
)


def _has_optuna() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
    except ModuleNotFoundError:  # no hydra_plugins namespace at all
        return False


HAS_OPTUNA = _has_optuna()


def _choices() -> list[tuple[str, str]]:
    return [(g, c) for g in GROUPS for c in group_choices(g)]


def test_groups_have_the_expected_choices() -> None:
    assert {"rnn", "lstm", "gru", "lstm_gru"} <= set(group_choices("model"))  # the paper's
    assert {"csv", "wandb", "tensorboard", "many_loggers", "none"} <= set(group_choices("logger"))
    assert {"default", "cpu", "gpu", "ddp"} <= set(group_choices("trainer"))
    assert {"default", "none"} <= set(group_choices("callbacks"))
    assert "paper" in group_choices("experiment")


@pytest.mark.parametrize(("group", "choice"), _choices())
def test_every_choice_composes(group: str, choice: str, tmp_path: Path) -> None:
    if group == "hparams_search" and not HAS_OPTUNA:
        pytest.skip("hydra-optuna-sweeper is not installed")
    cfg = compose_config([f"{group}={choice}"], output_dir=str(tmp_path))
    OmegaConf.resolve(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    # The objects a run builds first; the data is only built by fit.
    task = build.task(cfg, list(cfg.data.tracks))
    assert task.num_parameters() > 0
    for name, node in (cfg.callbacks or {}).items():
        assert isinstance(hydra.utils.instantiate(node), L.Callback), name
    assert "csv" in cfg.logger, "every logger choice keeps the CSV log"
    if group == "logger":
        for node in cfg.logger.values():
            hydra.utils.instantiate(node)
    if group == "trainer" and choice in ("default", "cpu"):
        assert isinstance(hydra.utils.instantiate(cfg.trainer, logger=False), L.Trainer)


def test_default_config_is_the_documented_one(tmp_path: Path) -> None:
    cfg = compose_config([], output_dir=str(tmp_path))
    assert cfg.model.name == "lstm_gru" and cfg.data.source == "bach"
    assert cfg.logger.wandb.offline is True and cfg.logger.wandb.log_model is False
    assert cfg.task.optimizer.lr == 0.001
    assert cfg.task.timing == "categorical"
    assert dict(cfg.task.loss_weights.regression) == {
        "pitch": 0.05,
        "step": 1.0,
        "duration": 1.0,
        "track": 1.0,
    }
    assert set(cfg.task.loss_weights.categorical.values()) == {1.0}


def test_paper_experiment_settings(tmp_path: Path) -> None:
    cfg = compose_config(["experiment=paper"], output_dir=str(tmp_path))
    assert cfg.data.source == "lpd5" and cfg.data.tracks[0] == "Drums"
    assert cfg.trainer.max_epochs == 50 and cfg.data.batch_size == 315
    assert cfg.data.seq_len == 25 and cfg.task.optimizer.lr == 0.001
    assert cfg.task.target == "last" and cfg.task.timing == "regression"
    assert (
        cfg.task.loss_weights.regression.pitch,
        cfg.task.loss_weights.regression.step,
        cfg.task.loss_weights.regression.duration,
    ) == (0.05, 1.0, 1.0)


def test_paper_experiment_states_only_what_differs(tmp_path: Path) -> None:
    """experiment=paper changes the data, the batch, the epochs, the timing heads, the
    note heads (the tutorial's independent ones) and drops the bar-position input (the
    paper's network reads pitch, step and duration), nothing else; data= after it picks
    other music with the paper's training settings."""

    def flat(overrides: list[str]) -> dict:
        cfg = compose_config(overrides, output_dir=str(tmp_path))
        plain = OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
        return flatten(plain)

    default, paper = flat([]), flat(["experiment=paper"])
    changed = {k for k in default.keys() | paper.keys() if default.get(k) != paper.get(k)}
    assert {k.split(".")[0] for k in changed} == {"data", "trainer", "task", "tags"}
    assert {k for k in changed if not k.startswith("data.")} == {
        "trainer.min_epochs",
        "trainer.max_epochs",
        "task.timing",
        "task.heads",
        "task.encoder.position_dim",
        "tags",
    }
    on_bach = flat(["experiment=paper", "data=bach"])
    assert on_bach["data.source"] == "bach" and on_bach["data.batch_size"] == 315


def flatten(node: object, prefix: str = "") -> dict:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


@pytest.mark.parametrize(
    "args", [["model=foo"], ["data=nope"], ["model=rnn,foo"], ["logger=slack"]]
)
def test_unknown_choice_lists_the_valid_ones(args: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        check_overrides(args, CONFIG_DIR)
    group = args[0].split("=")[0]
    message = str(info.value)
    assert "\n" not in message
    for valid in group_choices(group):
        assert valid in message


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.seq_len=0", "data.seq_len"),
        ("data.seq_len=True", "data.seq_len"),  # not 1: a bool is no length
        ("model=transformer model.net.num_heads=0", "model.net.num_heads"),
        ("evaluate.max_songs=1", "evaluate.max_songs"),  # real vs real needs 2 songs
        ("evaluate.context=abc", "evaluate.context"),
        ("evaluate.context=1", "evaluate.context"),
        ("model=transformer model.net.hidden_size=60", "model.net.hidden_size"),
        ("data.seq_len=1 task.target=all", "data.seq_len"),  # generation needs 2 notes
        ("task.optimizer.lr=-0.001", "task.optimizer.lr"),
        ("data.tracks=[Piano,Kazoo]", "data.tracks"),
        ("task.target=middle", "task.target"),
        ("model.net.dropout=1.5", "model.net.dropout"),
        ("task.loss_weights.categorical.pitch=-1", "task.loss_weights.categorical.pitch"),
        ("task.timing=fuzzy", "task.timing"),
        (
            "task.encoder.time_input=classes task.heads=independent task.timing=regression",
            "task.encoder.time_input",
        ),
        ("ckpt_path=/nonexistent/last.ckpt", "ckpt_path"),
    ],
)
def test_nonsense_values_stop_before_training(override: str, key: str, tmp_path: Path) -> None:
    cfg = compose_config([*override.split(), "logger=csv"], output_dir=str(tmp_path))
    with pytest.raises(ConfigError) as info:
        train(cfg)
    assert str(info.value).startswith(key) and "\n" not in str(info.value)
    assert not (tmp_path / "checkpoints").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "musegen.train", *args],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # ~10 s: CLI round trips (the checks before training: test_nonsense_values)
def test_cli_reports_user_mistakes_in_one_line(tmp_path: Path) -> None:
    bad_model = _cli("model=foo")
    assert bad_model.returncode == 2
    assert bad_model.stderr.strip().splitlines() == [
        "error: model=foo: unknown model; choose from gru, lstm, lstm_gru, rnn, transformer"
    ]
    bad_lr = _cli("task.optimizer.lr=-1", f"paths.log_dir={tmp_path}", "logger=csv")
    assert bad_lr.returncode == 2
    lines = bad_lr.stderr.strip().splitlines()
    assert lines[-1] == "error: task.optimizer.lr must be a number > 0, got -1", lines
    assert "Traceback" not in bad_lr.stderr


def test_the_task_makes_its_optimizer_from_the_partial_node(tmp_path: Path) -> None:
    cfg = compose_config(
        ["task.optimizer._target_=torch.optim.SGD", "+task.optimizer.momentum=0.9"],
        output_dir=str(tmp_path),
    )
    task = build.task(cfg, ["Piano"])
    optimizer = task.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.defaults["lr"] == 0.001 and optimizer.defaults["momentum"] == 0.9
    # what the checkpoint keeps is plain data, not the partial
    assert task.hparams.optimizer == {
        "_target_": "torch.optim.sgd.SGD",
        "lr": 0.001,
        "weight_decay": 0.0,
        "momentum": 0.9,
    }


def test_lakh_experiment_composes_and_passes_the_checks(tmp_path: Path) -> None:
    """experiment=lakh: the shared Lakh MIDI folder, all five tracks, categorical timing,
    transposed training windows, within a budget of 6,000 steps (experiments/README.md,
    "Rhythm"), chained heads on longer windows than its independent baseline at the same
    predicted notes a step."""
    from musegen.config_checks import check_config

    cfg = compose_config(["experiment=lakh"], output_dir=str(tmp_path))
    check_config(cfg)
    assert cfg.data.source == "midi" and cfg.data.root.endswith("shared/data/lmd_midi")
    assert list(cfg.data.tracks) == ["Drums", "Piano", "Guitar", "Bass", "Strings"]
    assert cfg.task.timing == "categorical" and cfg.data.transpose == 5
    assert cfg.trainer.max_steps <= 6000 and cfg.task.heads == "chained"
    # the chained, multi-bar default and its baseline predict the same notes a step
    base = compose_config(["experiment=lakh_independent"], output_dir=str(tmp_path))
    assert cfg.data.seq_len > base.data.seq_len and base.task.heads == "independent"
    assert cfg.data.batch_size * cfg.data.seq_len == base.data.batch_size * base.data.seq_len
    bad = compose_config(["experiment=lakh", "data.transpose=13"], output_dir="x")
    with pytest.raises(ConfigError, match=r"^data\.transpose"):  # the datamodule checks it
        build.instantiate(bad.data, "data")


def test_lakh_accompany_is_lakh_trained_and_drawing_for_accompaniment(tmp_path: Path) -> None:
    """experiment=lakh_accompany: experiment=lakh with the kept music ahead in half the
    training windows and read by the network, and the accompaniment's step and track drawn
    as chosen; everything else experiment=lakh's."""
    from omegaconf import OmegaConf

    from musegen.config_checks import check_config

    cfg = compose_config(["experiment=lakh_accompany"], output_dir=str(tmp_path))
    check_config(cfg)
    lakh = compose_config(["experiment=lakh"], output_dir=str(tmp_path))
    assert cfg.data.ahead == 0.5 and lakh.data.ahead == 0
    assert cfg.task.encoder.ahead_dim == 32 and lakh.task.encoder.ahead_dim == 0
    assert OmegaConf.to_container(cfg.sampling.accompaniment) == {
        "step": {"temperature": 0.5},
        "track": {"temperature": 1.3, "entry": 1.0},  # lakh's: no piece's own rules
        "duration": {"cache": 0.0},
    }
    for part in ("data", "task", "sampling", "model", "trainer"):
        a, b = (OmegaConf.to_container(c[part], resolve=False) for c in (cfg, lakh))
        if part == "data":
            a.pop("ahead"), b.pop("ahead")
        if part == "task":
            a["encoder"].pop("ahead_dim"), b["encoder"].pop("ahead_dim")
        if part == "sampling":
            a.pop("accompaniment"), b.pop("accompaniment")
        assert a == b, part


def test_the_lakh_sampling_warms_only_the_basss_durations_and_pop909_drops_the_bass_rules(
    tmp_path: Path,
) -> None:
    """experiment=lakh draws durations at 1.0 and the Bass's at 1.5, every other field and
    track as before, with the piece's own rules (cache 0.5 of the primer's durations, entry
    0.1) in continuations only
    and the accompaniment's rules (the Bass's root its own);
    experiment=pop909 (one Piano track) keeps lakh's settings without the Bass's rules;
    compare_lakh keeps the sampling and inputs its committed table ran with."""
    from musegen.generation.sampling import Sampling

    lakh = Sampling.from_config(
        compose_config(["experiment=lakh"], output_dir=str(tmp_path)).sampling
    )
    assert lakh.track_fields == (
        ("Bass", "pitch", (("root", 0.45),)),
        ("Bass", "duration", (("temperature", 1.5),)),
    )
    assert lakh.rule("pitch", "Piano").harmony == 0.6 and lakh.rule("pitch", "Piano").root == 1
    assert lakh.rule("step", "Drums").on_kept == 1.0 and lakh.rule("pitch", "Bass").root == 0.45
    accompaniment = lakh.for_accompaniment()  # its own step temperature, the rest as lakh's
    assert accompaniment.rule("step", "Drums").temperature == 1.0
    assert accompaniment.rule("pitch", "Bass").root == 0.45
    assert accompaniment.rule("duration", "Bass").temperature == 1.5
    assert lakh.rule("duration", "Bass").temperature == 1.5
    assert lakh.rule("duration", "Piano").temperature == 1.0
    assert lakh.rule("step", "Bass").temperature == 0.5 and lakh.rule("pitch").clash == 0.25
    # the piece's own rules in continuations, not in accompaniments (chosen without them)
    assert lakh.rule("duration", "Piano").cache == 0.5 and lakh.rule("track").entry == 0.1
    assert lakh.rule("duration", "Guitar").cache_drawn == 0.0
    assert accompaniment.rule("duration", "Piano").cache == 0.0
    assert accompaniment.rule("track").entry == 1.0
    pop = compose_config(["experiment=pop909"], output_dir=str(tmp_path))
    assert pop.data.root.endswith("shared/data/pop909") and list(pop.data.tracks) == ["Piano"]
    assert pop.task.encoder.sounding_dim == 32 and pop.task.velocity_classes == 12
    pop_rules = Sampling.from_config(pop.sampling)
    assert pop_rules.track_fields == () and pop_rules.rule("duration", "Piano").temperature == 1.0
    assert pop_rules.rule("duration", "Piano").cache == 0.0 and pop_rules.rule("track").entry == 1
    old = compose_config(["experiment=compare_lakh"], output_dir=str(tmp_path))
    old_rules = Sampling.from_config(old.sampling)
    assert old.task.encoder.sounding_dim == 0 and old.task.velocity_classes == 0
    assert old_rules.track_fields == () and old_rules.rule("duration", "Bass").temperature == 0.5
    assert old_rules.rule("pitch").clash == 1.0 and old_rules.rule("pitch").temperature == 0.5
    assert old_rules.rule("pitch").harmony == 1.0 and old_rules.rule("step").on_kept == 1.0
    assert old_rules.rule("duration").cache == 0.0 and old_rules.rule("track").entry == 1.0
    assert old_rules.for_accompaniment() is old_rules
    # the default run draws semitone clashes at 0.1; the committed comparisons as they ran,
    # without the rule (experiment=paper's regression timing tracks no sounding keys)
    for overrides, clash in (
        ([], 0.1),
        (["experiment=compare"], 1.0),
        (["experiment=compare_pop909"], 1.0),
    ):
        cfg = compose_config(overrides, output_dir=str(tmp_path))
        assert Sampling.from_config(cfg.sampling).rule("pitch").clash == clash, overrides


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
        ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
    ],
)
def test_the_sweep_launchers_compose(launcher: str, target: str, tmp_path: Path) -> None:
    """experiment=compare through joblib (side by side) or SLURM (submitit): the launcher
    config composes with the sweep and its launcher class imports (SLURM cannot run here)."""
    cfg = compose_config(
        ["experiment=compare", f"hydra/launcher={launcher}"], output_dir=str(tmp_path)
    )
    assert cfg.hydra.launcher._target_ == target
    hydra.utils.get_class(target)
    assert set(cfg.hydra.sweeper.params.model.split(",")) == set(MODELS)  # every backbone
    assert cfg.hydra.callbacks.compare._target_ == "musegen.compare.callback.CompareAfterSweep"
    if launcher == "slurm":
        assert cfg.hydra.launcher.gpus_per_node == 1 and cfg.hydra.launcher.timeout_min > 0


def test_compare_experiments_hold_one_budget_for_every_model(tmp_path: Path) -> None:
    """Every backbone of experiment=compare is sized to the same parameter budget, and
    compare_lakh keeps experiment=lakh's settings on top of the sweep's."""
    sizes = []
    for model in MODELS:
        cfg = compose_config(["experiment=compare", f"model={model}"], output_dir=str(tmp_path))
        sizes.append(build.task(cfg, list(cfg.data.tracks)).num_parameters())
    budget = cfg.task.param_budget
    assert all(abs(n - budget) < 0.02 * budget for n in sizes), sizes
    lakh = compose_config(["experiment=compare_lakh"], output_dir=str(tmp_path))
    assert lakh.data.source == "midi" and lakh.task.target == "all"
    assert lakh.trainer.max_steps == 600 and lakh.trainer.max_epochs == -1  # sized to fit
    assert lakh.data.seq_len == 100 and lakh.task.encoder.key_dim == 16  # experiment=lakh's
    assert lakh.hydra.sweeper.params["task.timing"] == "categorical"
    pop = compose_config(["experiment=compare_pop909"], output_dir=str(tmp_path))
    assert pop.data.root.endswith("shared/data/pop909") and list(pop.data.tracks) == ["Piano"]
    assert pop.trainer.max_steps == lakh.trainer.max_steps and pop.task.target == "all"
    assert pop.hydra.sweeper.params.model == lakh.hydra.sweeper.params.model


def test_the_evaluation_group_states_the_settings_own_defaults() -> None:
    """``conf/evaluation/default.yaml`` documents every evaluation setting; its values are the
    dataclass's, so ``python -m musegen.evaluate`` and a training run's evaluation agree."""
    from dataclasses import asdict

    from musegen.evaluation.report import SETTING_NAMES, EvaluationSettings

    stated = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "evaluation" / "default.yaml"))
    defaults = asdict(EvaluationSettings())
    defaults.pop("sampling")  # the sampling group's, composed beside it
    assert set(stated) == set(SETTING_NAMES) - {"sampling"}
    assert stated == defaults
