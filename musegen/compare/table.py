"""Group runs by what their overrides vary, and collapse seeds to mean ± std.

Rows are keyed by the overrides that differ between runs (``model``, ``task.timing``,
``task.lr``, ...), never by a fixed list, so any sweep gets its table. ``seed`` is what a
row averages over. When no override varies (runs started one by one with the same command
line), the model, target and timing recorded in ``metrics.json`` key the rows instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from musegen.compare.runs import Run

SEED_KEYS = frozenset({"seed"})
"""Overrides that a row averages over instead of splitting on."""

CONFIG_IGNORED = ("tags", "task_name", "evaluate.out_dir", "ckpt_path", "callbacks.")
"""Config values that say nothing about what was trained (only looked at in the config)."""

IGNORED_PREFIXES = ("hydra.", "paths.", "logger", "extras.", "trainer.enable_progress_bar")
"""Overrides that say where and how a run was logged, not what was trained: never a row key."""

LOSS_COLUMNS = (
    ("n_params", "parameters", "{:,.0f}"),
    ("test/note_nll", "note NLL", "{:.4f}"),
    ("test/loss", "test loss", "{:.4f}"),
    ("test/pitch_loss", "pitch", "{:.4f}"),
    ("test/step_loss", "step", "{:.4f}"),
    ("test/duration_loss", "duration", "{:.4f}"),
    ("test/track_loss", "track", "{:.4f}"),
    ("test/pitch_acc", "pitch acc", "{:.3f}"),
    ("test/step_acc", "step acc", "{:.3f}"),
    ("test/duration_acc", "duration acc", "{:.3f}"),
    ("train_notes_per_s", "train notes/s", "{:,.0f}"),
    ("epochs", "epochs", "{:.0f}"),
    ("best_epoch", "best epoch", "{:.0f}"),
    ("wall_time_s", "wall s", "{:,.0f}"),
)
"""The main table: ``(metrics.json key, header, format)``; absent keys drop their column."""

SIMILARITY_FEATURES = ("pitch", "pitch_class", "pitch_class_ti", "step", "duration")
REFERENCE_ROWS = ("real_vs_real", "unigram", "uniform_random", "repeat_primer")
CONTROL_KEYS = (
    "real_vs_real",
    "scrambled_instruments",
    "key_broken",
    "unigram",
    "uniform_random",
    "repeat_primer",
    "bars_shuffled",
    "bar_looped",
)
"""The evaluation's control rows (``evaluation.samples.CONTROL_ROWS`` and ``FORM_ROWS``) as
key suffixes."""


@dataclass
class Group:
    """The runs that share every varying override but the seed."""

    key: tuple[tuple[str, str], ...]
    runs: list[Run] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``position_dim=16, model=gru``: each varying key's shortest unambiguous tail
        (``step.temperature`` beside ``duration.temperature``) and its value."""
        names = short_names([k for k, _ in self.key])
        return (
            ", ".join(f"{n}={v}" for n, (_, v) in zip(names, self.key, strict=True)) or "all runs"
        )

    @property
    def ok(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if not r.ok and not r.running]

    @property
    def running(self) -> list[Run]:
        return [r for r in self.runs if r.running]

    def values(self, key: str) -> np.ndarray:
        """``key``'s finite values over the group's finished runs."""
        vals = [r.metrics[key] for r in self.ok if key in r.metrics]
        return np.asarray([v for v in vals if math.isfinite(v)], dtype=np.float64)

    def stat(self, key: str) -> tuple[float, float, int]:
        """``(mean, std, n)`` of ``key`` (sample std, 0 for one run; NaN for none)."""
        vals = self.values(key)
        if vals.size == 0:
            return math.nan, math.nan, 0
        std = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
        return float(vals.mean()), std, int(vals.size)

    def cell(self, key: str, pattern: str = "{:.3f}") -> str:
        """``fmt`` of ``key``, saying how many runs the mean covers when that is fewer than
        the row's finished runs (a NaN loss, a metric one run did not record)."""
        mean, std, n = self.stat(key)
        text = fmt((mean, std, n), pattern)
        finished = len(self.ok)
        return f"{text} ({n} of {finished} runs)" if 0 < n < finished else text


def short_names(keys: list[str]) -> list[str]:
    """The last dotted part of each key, or as many parts as make it unique among ``keys``."""
    parts = [k.lstrip("_").split(".") for k in keys]
    names = []
    for p in parts:
        n = 1
        while n < len(p) and sum(q[-n:] == p[-n:] for q in parts) > 1:
            n += 1
        names.append(".".join(p[-n:]))
    return names


def varying_keys(runs: list[Run]) -> list[str]:
    """The override keys whose values differ between runs (seed excluded), in first-seen
    order; the recorded ``_model``/``_target``/``_timing`` only when no real override varies."""

    def differing(keys: list[str]) -> list[str]:
        return [k for k in keys if len({r.overrides.get(k) for r in runs}) > 1]

    keys = list(dict.fromkeys(k for r in runs for k in r.overrides))
    real = [
        k
        for k in keys
        if not k.startswith("_") and k not in SEED_KEYS and not k.startswith(IGNORED_PREFIXES)
    ]
    return differing(real) or differing([k for k in keys if k.startswith("_")])


def common_overrides(runs: list[Run]) -> dict[str, str]:
    """Overrides every run shares (what the sweep held fixed)."""
    if not runs:
        return {}
    shared = {k: v for k, v in runs[0].overrides.items() if not k.startswith("_")}
    for run in runs[1:]:
        shared = {k: v for k, v in shared.items() if run.overrides.get(k) == v}
    return shared


def group_runs(runs: list[Run], same: Iterable[str] = ()) -> tuple[list[str], list[Group]]:
    """``(varying keys, groups in first-seen order)``. Runs whose overrides agree but whose
    configs differ (a config file edited between runs, an experiment changed) are split by
    the config values that differ: a row never averages two different settings. ``same``
    names config keys the caller knows to be equivalent across the runs (a key added to the
    configs between runs that keeps the old behaviour), which then do not split rows."""
    keys = varying_keys(runs)
    keys += hidden_differences(_group(runs, keys).values(), tuple(same))
    return keys, list(_group(runs, keys).values())


def config_splits(runs: list[Run]) -> list[str]:
    """The config keys whose values split rows of ``runs`` (what ``--same`` can join)."""
    return hidden_differences(_group(runs, varying_keys(runs)).values())


def _group(runs: list[Run], keys: list[str]) -> dict[tuple[tuple[str, str], ...], Group]:
    groups: dict[tuple[tuple[str, str], ...], Group] = {}
    for run in runs:
        key = tuple((k, _value(run, k)) for k in keys)
        groups.setdefault(key, Group(key)).runs.append(run)
    return groups


def hidden_differences(groups: Iterable[Group], same: tuple[str, ...] = ()) -> list[str]:
    """Config keys (``.hydra/config.yaml``) whose values differ inside a group, ignoring
    the seed, where things were written or logged, and the keys in ``same``."""
    found: dict[str, None] = {}
    for group in groups:
        configs = [r.flat_config() for r in group.runs]
        configs = [c for c in configs if c]
        if len(configs) < 2:
            continue
        for k in dict.fromkeys(k for c in configs for k in c):
            if k in SEED_KEYS or k in same or k.startswith(IGNORED_PREFIXES + CONFIG_IGNORED):
                continue
            if len({c.get(k) for c in configs}) > 1:
                found[k] = None
    return list(found)


def _value(run: Run, key: str) -> str:
    """The run's value of a varying key: its override, else what its config held."""
    if key in run.overrides:
        return run.overrides[key]
    return (None if key.startswith("_") else run.setting(key)) or "default"


def metric_keys(groups: list[Group]) -> list[str]:
    """Every numeric key any finished run recorded, sorted."""
    return sorted({k for g in groups for r in g.ok for k in r.metrics})


def fmt(stat: tuple[float, float, int], pattern: str = "{:.3f}") -> str:
    """``mean ± std`` (``mean`` alone for one run, ``–`` for none)."""
    mean, std, n = stat
    if n == 0 or not math.isfinite(mean):
        return "–"
    text = pattern.format(mean)
    return f"{text} ± {pattern.format(std)}" if n > 1 else text
