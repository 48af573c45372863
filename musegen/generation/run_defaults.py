"""A trained run's own settings as the defaults of ``musegen.generate`` and ``musegen.evaluate``.

A checkpoint is played as its run was evaluated: ``experiment=lakh`` draws the pitch at 0.4,
chosen on the validation songs, and the same checkpoint must not get another score because
another command read ``conf/sampling/default.yaml`` instead. So a setting comes, in order of
precedence, from

1. the command line (any key, also one leaf of a group: ``sampling.pitch.temperature=0.5``
   keeps the run's other sampling settings);
2. the run's ``.hydra/config.yaml`` (its ``sampling`` group and ``evaluate.<key>``);
3. the command's own config (``conf/generate.yaml``, ``conf/evaluate.yaml``), where the run
   has no config or does not set the key.

``with_run_settings`` returns the settings and where each came from, which
``generation.json`` and ``evaluation.json`` record. The run's config is data, never code: the
values taken are plain and checked by the settings they become (``Sampling``,
``EvaluationSettings``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

COMMAND_LINE = "command line"
RUN = "run"
DEFAULT = "default"


def command_line_keys(overrides: Sequence[str]) -> list[str]:
    """The config keys the command line set, from its ``key=value`` overrides (Hydra's
    ``++key=``, ``+key=`` and ``~key=`` name the same keys)."""
    return [o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o]


def hydra_overrides() -> list[str]:
    """This Hydra job's command-line overrides (what an entry point passes on)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


def _run_value(config: DictConfig | None, key: str) -> Any:
    """The run config's value at ``key`` as plain data, or None where it has none or it
    cannot be resolved (an interpolation of the training machine)."""
    if config is None:
        return None
    try:
        node = OmegaConf.select(config, key, default=None, throw_on_missing=False)
        if OmegaConf.is_config(node):
            return OmegaConf.to_container(node, resolve=True)
        return node
    except OmegaConfBaseException:
        return None


def with_run_settings(
    cfg: DictConfig,
    run_config: DictConfig | None,
    keys: Mapping[str, str],
    overrides: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings ``keys`` names, each from the command line, else the run, else ``cfg``.

    Parameters
    ----------
    cfg : DictConfig
        The command's composed config (its defaults with the command line applied).
    run_config : DictConfig, optional
        The run's ``.hydra/config.yaml``; None when the run folder has none.
    keys : mapping of str to str
        The command's key -> where the run keeps the same setting (``"sampling"`` ->
        ``"sampling"``, ``"context"`` -> ``"evaluate.context"``).
    overrides : sequence of str
        The command line's ``key=value`` overrides (``hydra_overrides()`` in an entry point).

    Returns
    -------
    values : dict
        Plain values by key.
    sources : dict
        By key: ``"command line"``, ``"run"``, ``"default"``, or ``"run; <leaf> from the
        command line"`` for a group the command line changed in part.
    """
    given = command_line_keys(overrides)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, run_key in keys.items():
        mine = _run_value(cfg, key)
        theirs = _run_value(run_config, run_key)
        leaves = [g for g in given if g.startswith(f"{key}.")]
        if key in given or theirs is None:
            values[key], sources[key] = mine, COMMAND_LINE if key in given else DEFAULT
            continue
        if leaves and isinstance(theirs, dict):
            merged = OmegaConf.create(theirs)
            for leaf in leaves:
                OmegaConf.update(merged, leaf[len(key) + 1 :], _run_value(cfg, leaf), merge=False)
            values[key] = OmegaConf.to_container(merged, resolve=True)
            sources[key] = f"{RUN}; {', '.join(leaves)} from the {COMMAND_LINE}"
            continue
        values[key], sources[key] = theirs, RUN
    return values, sources
