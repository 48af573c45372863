"""Read the run folders of a sweep (or any set of runs) as plain data.

A run folder is what ``musegen.train`` leaves: ``.hydra/overrides.yaml`` (what this job
changed), ``metrics.json`` (written last, atomically; its ``status`` says whether the run
finished, stopped on a non-finite loss, or was interrupted), ``failed.json`` (a sweep job
that failed: its reason, ``musegen.sweeps``),
``csv/metrics.csv`` (the per-step log, possibly cut short by a kill), ``evaluation/
evaluation.json`` and ``train.log``. Nothing here imports a run's code or unpickles anything:
a shared sweep folder is read as text.

A run whose ``.run.lock`` a live process holds is running, not failed. A finished run whose
test or validation loss is not finite (NaN, or ``null`` in strict JSON) keeps its other
metrics and names the losses it lacks (``Run.nonfinite``), so a mean over its row says
that it covers fewer runs.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from musegen.atomic import RUN_LOCK, folder_in_use
from musegen.errors import first_line
from musegen.sweeps import read_failure

_MARKERS = ("metrics.json", ".hydra/overrides.yaml", "train.log")
_ERROR = re.compile(r"(\[ERROR\]|\[CRITICAL\]|Error:|Exception:|: interrupted)")
_QUIET = re.compile(r"\]\[(WARNING|INFO|DEBUG)\]")  # a logged warning is not why a run failed
LOSS_PREFIXES = ("test/", "val/")
"""Keys of ``metrics.json`` that a finished run has as numbers: a NaN among them is marked."""


@dataclass
class Run:
    """One run: its overrides, its final metrics (empty if it failed) and its val curve."""

    path: Path
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    running: bool = False
    nonfinite: list[str] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)
    _flat: dict[str, str] | None = field(default=None, repr=False)

    def flat_config(self) -> dict[str, str]:
        """The run's ``.hydra/config.yaml`` as ``dotted.key -> value`` (empty if absent)."""
        if self._flat is None:
            self._flat = {}
            stack = [("", _yaml(self.path / ".hydra" / "config.yaml"))]
            while stack:
                prefix, node = stack.pop()
                if isinstance(node, dict):
                    stack += [(f"{prefix}{k}.", v) for k, v in node.items()]
                elif prefix:
                    self._flat[prefix[:-1]] = canonical(str(node))
        return self._flat

    def setting(self, key: str) -> str | None:
        """What the run used for ``key`` when its command line did not say: the config
        group's choice (``.hydra/hydra.yaml``) or the value (``.hydra/config.yaml``)."""
        for name, section in (("hydra.yaml", ("hydra", "runtime", "choices")), ("config.yaml", ())):
            data = _yaml(self.path / ".hydra" / name)
            for part in section:
                data = data.get(part, {}) if isinstance(data, dict) else {}
            if name == "hydra.yaml":
                value = data.get(key) if isinstance(data, dict) else None
            else:
                value = data
                for part in key.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
            if value is not None and not isinstance(value, dict | list):
                return canonical(str(value))
        return None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        return self.path.name


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths``: each path itself if it is a run, else the runs under it
    (a multirun folder's numbered jobs, or any tree of runs), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if _is_run(path):
            found.append(path)
            continue
        candidates = {p.parent for p in path.rglob("metrics.json")}
        candidates |= {p.parent for p in path.rglob("train.log")}
        candidates |= {p.parent.parent for p in path.rglob(".hydra/overrides.yaml")}
        found.extend(sorted((c for c in candidates if _is_run(c)), key=_natural))
    return list(dict.fromkeys(found))


def _is_run(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in _MARKERS)


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def read_run(path: Path) -> Run:
    """Everything ``compare`` needs of one run folder; a run without ``metrics.json`` is
    failed, with the last error-looking line of its log as the reason."""
    run = Run(path=path, overrides=read_overrides(path), curve=read_curve(path))
    if folder_in_use(path):  # a live process holds the run's lock: not done, not failed
        run.running = True
        run.error = f"running (a live process holds its {RUN_LOCK})"
        return run
    metrics_file = path / "metrics.json"
    failure = read_failure(path)
    if not metrics_file.is_file():
        run.error = failure or last_error_line(path)
        return run
    try:
        data = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as err:
        run.error = f"unreadable metrics.json: {first_line(err)}"
        return run
    if not isinstance(data, dict):
        run.error = f"unreadable metrics.json: a JSON {type(data).__name__}, not an object"
        return run
    status = data.get("status", "finished")  # runs written before the status existed finished
    if failure or status != "finished":
        run.error = failure or f"{status}: {data.get('error') or data.get('resume_from') or ''}"
        return run
    run.metrics = {k: float(v) for k, v in data.items() if _is_number(v)}
    run.nonfinite = sorted(
        k for k, v in data.items() if k.startswith(LOSS_PREFIXES) and not _is_number(v)
    )
    for key in ("model", "target", "timing"):
        if isinstance(data.get(key), str):
            run.overrides.setdefault(f"_{key}", data[key])
    run.provenance = {k: str(data[k]) for k in ("commit", "machine") if data.get(k)}
    run.metrics.update({k: v for k, v in read_evaluation(path).items() if k not in run.metrics})
    if "best_epoch" not in run.metrics:
        best = _best_epoch(data.get("best_ckpt"))
        if best is not None:
            run.metrics["best_epoch"] = best
    return run


def read_overrides(path: Path) -> dict[str, str]:
    """``key -> value`` of the job's command-line overrides (``+``/``++`` prefixes dropped)."""
    items: list[str] = []
    hydra_file = path / ".hydra" / "overrides.yaml"
    if hydra_file.is_file():
        try:
            items = [str(o) for o in yaml.safe_load(hydra_file.read_text()) or []]
        except (OSError, yaml.YAMLError):
            items = []
    elif (path / "metrics.json").is_file():
        try:
            data = json.loads((path / "metrics.json").read_text())
        except (OSError, ValueError):
            data = {}
        items = data.get("overrides", []) if isinstance(data, dict) else []
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            out[key.lstrip("+~")] = canonical(value)
    return out


def canonical(value: str) -> str:
    """One spelling per value: a multirun writes ``False`` where the command said ``false``,
    ``1e-3`` and ``0.001`` are one learning rate."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, bool):
        return str(parsed).lower()
    if isinstance(parsed, int | float):
        return repr(parsed)
    return value


def read_curve(path: Path, key: str = "val/loss") -> list[tuple[int, float]]:
    """``(step, value)`` of ``key`` in the run's CSV log; rows a kill cut short are skipped."""
    points: list[tuple[int, float]] = []
    for csv_file in sorted(path.glob("csv/**/metrics.csv")):
        try:
            with csv_file.open(newline="") as fh:
                for row in csv.DictReader(fh):
                    value, step = row.get(key), row.get("step")
                    if value and step and _is_number(value) and _is_number(step):
                        points.append((int(float(step)), float(value)))
        except (OSError, csv.Error, UnicodeDecodeError):
            continue
    return sorted(points)


def read_evaluation(path: Path) -> dict[str, float]:
    """The ``eval/...`` scalars of the run's ``evaluation/evaluation.json``, if any."""
    from musegen.evaluation.logging import report_scalars

    eval_file = path / "evaluation" / "evaluation.json"
    if not eval_file.is_file():
        return {}
    try:
        return report_scalars(json.loads(eval_file.read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def last_error_line(path: Path) -> str:
    """The last line of the run's log that looks like an error (else its last line)."""
    logs = sorted(path.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for log_file in reversed(logs):
        try:
            lines = [ln.strip() for ln in log_file.read_text(errors="replace").splitlines()]
        except OSError:
            continue
        lines = [ln for ln in lines if ln]
        for line in reversed(lines):
            if _ERROR.search(line) and not _QUIET.search(line):
                return line[-300:]
        if lines:
            return (
                "did not finish (no metrics.json; its log names no error: killed, or a crash "
                "whose traceback went to the console only); last log line: " + lines[-1][-200:]
            )
    return "did not finish (no metrics.json, no log)"


def _yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None


def _best_epoch(ckpt: Any) -> float | None:
    match = re.search(r"epoch[_=]?(\d+)", str(ckpt or ""))
    return float(match.group(1)) if match else None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
